# ctest driver: the consumer project against this checkout, by add_subdirectory, then against an
# install of it, by find_package(opcast 0.1), with the static and the shared library.
set(prefix "${BINARY}/prefix")
foreach(step
    "${CMAKE_COMMAND};-S;${SOURCE};-B;${BINARY}/subdirectory;-G;Ninja;-DCMAKE_BUILD_TYPE=Release;-DOPCAST_ROOT=${ROOT}"
    "${CMAKE_COMMAND};--build;${BINARY}/subdirectory"
    "${BINARY}/subdirectory/consumer"
    "${CMAKE_COMMAND};-S;${ROOT};-B;${BINARY}/opcast;-G;Ninja;-DCMAKE_BUILD_TYPE=Release;-DCMAKE_INSTALL_PREFIX=${prefix};-DOPCAST_BUILD_TRAINER=OFF;-DOPCAST_BUILD_PYTHON=OFF;-DOPCAST_BUILD_TESTS=OFF;-DOPCAST_BUILD_BENCHMARKS=OFF"
    "${CMAKE_COMMAND};--build;${BINARY}/opcast;--target;install"
    "${CMAKE_COMMAND};-S;${SOURCE};-B;${BINARY}/installed;-G;Ninja;-DCMAKE_BUILD_TYPE=Release;-DCMAKE_PREFIX_PATH=${prefix}"
    "${CMAKE_COMMAND};--build;${BINARY}/installed"
    "${BINARY}/installed/consumer"
    "${BINARY}/installed/consumer_shared")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer step failed (${rc}): ${step}")
  endif()
endforeach()
