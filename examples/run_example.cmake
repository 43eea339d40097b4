# Run an example program and check it: exit status 0 and every string of
# EXPECT (a ;-list) present in its standard output.
#   cmake -DPROGRAM=<exe> [-DARGS="arg1;arg2"] -DEXPECT="line1;line2" -P run_example.cmake
if(NOT PROGRAM)
  message(FATAL_ERROR "run_example.cmake: PROGRAM not set")
endif()
execute_process(
  COMMAND "${PROGRAM}" ${ARGS}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message("${out}")
if(err)
  message("--- stderr ---\n${err}")
endif()
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${PROGRAM} exited with status ${rc}")
endif()
set(missing 0)
foreach(line IN LISTS EXPECT)
  string(FIND "${out}" "${line}" pos)
  if(pos EQUAL -1)
    message(SEND_ERROR "expected in the output:\n${line}")
    set(missing 1)
  endif()
endforeach()
if(missing)
  message(FATAL_ERROR "${PROGRAM}: output differs from what is expected")
endif()
