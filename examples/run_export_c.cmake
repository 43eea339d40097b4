# example_digits_export_c: digits_export trains the digits model and writes it
# as C (nn_model_export_c); the C compiler builds digits_classify.c with that
# file alone (-std=c99 -Wall -Wextra -pedantic -Werror, no libnn); the
# classifier must count as many correct test images as libnn did.
#   cmake -DEXPORTER=<exe> -DCC=<cc> -DSRC=<examples dir> -DWORK=<dir> -P run_export_c.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
execute_process(COMMAND "${EXPORTER}" "${SRC}/data/digits.csv" "${WORK}/digits_model.c"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out1 ERROR_VARIABLE err1)
message("${out1}${err1}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "digits_export exited with status ${rc}")
endif()
execute_process(COMMAND "${CC}" -std=c99 -Wall -Wextra -pedantic -Werror
                        "-DDIGITS_MODEL=\"${WORK}/digits_model.c\""
                        "${SRC}/digits_classify.c" -o "${WORK}/digits_classify" -lm
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "compiling digits_classify.c with the generated file failed:\n${out}${err}")
endif()
execute_process(COMMAND "${WORK}/digits_classify" "${SRC}/data/digits.csv"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out2 ERROR_VARIABLE err2)
message("${out2}${err2}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "digits_classify exited with status ${rc}")
endif()
string(REGEX MATCH "libnn: ([0-9]+)/360" _ "${out1}")
set(lib "${CMAKE_MATCH_1}")
string(REGEX MATCH "generated C: ([0-9]+)/360" _ "${out2}")
set(gen "${CMAKE_MATCH_1}")
if(lib STREQUAL "" OR NOT lib STREQUAL gen)
  message(FATAL_ERROR "libnn counted '${lib}' correct test images, the generated C '${gen}'")
endif()
message("libnn and the generated C agree: ${gen}/360 correct")
