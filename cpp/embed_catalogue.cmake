# Writes the op catalogue JSON into a C++ source file as a raw string literal.
file(READ "${INPUT}" content)
file(WRITE "${OUTPUT}" "// Generated from catalogue/ops.json; do not edit.\nnamespace opcast {\nextern const char* const kCatalogueJson;\nconst char* const kCatalogueJson = R\"opcast_catalogue(${content})opcast_catalogue\";\n}\n")
