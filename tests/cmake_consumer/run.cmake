# ctest driver: configure, build and run the consumer project against this checkout.
foreach(step
    "${CMAKE_COMMAND};-S;${SOURCE};-B;${BINARY};-G;Ninja;-DCMAKE_BUILD_TYPE=Release;-DOPCAST_ROOT=${ROOT}"
    "${CMAKE_COMMAND};--build;${BINARY}"
    "${BINARY}/consumer")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer step failed (${rc}): ${step}")
  endif()
endforeach()
