# version_mismatch_fails_configure: configuring stops when include/nn.h's
# NN_VERSION_* macros disagree with CMakeLists.txt's project(VERSION). Runs
# the real CMakeLists.txt on a scratch copy of it and of nn.h whose
# NN_VERSION_MINOR is changed (the check comes before any find_package, so
# the copy needs nothing else).
#   cmake -DROOT=<source> -DWORK=<scratch dir> -P tests/check_version_configure.cmake
if(NOT ROOT OR NOT WORK)
  message(FATAL_ERROR "usage: cmake -DROOT=<source> -DWORK=<dir> -P check_version_configure.cmake")
endif()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/src/include")
file(COPY "${ROOT}/CMakeLists.txt" DESTINATION "${WORK}/src")
file(READ "${ROOT}/include/nn.h" _h)
string(REGEX MATCH "#define NN_VERSION_MINOR ([0-9]+)" _m "${_h}")
math(EXPR _other "${CMAKE_MATCH_1} + 1")
string(REGEX REPLACE "#define NN_VERSION_MINOR [0-9]+" "#define NN_VERSION_MINOR ${_other}" _h "${_h}")
file(WRITE "${WORK}/src/include/nn.h" "${_h}")
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${WORK}/src" -B "${WORK}/build"
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
if(_rc EQUAL 0)
  message(FATAL_ERROR "configuring with a disagreeing nn.h succeeded:\n${_out}")
endif()
string(REGEX REPLACE "[ \n]+" " " _flat "${_err}")
if(NOT _flat MATCHES "include/nn.h says version [0-9]+\\.${_other}\\.[0-9]+ \\(NN_VERSION_MAJOR/MINOR/PATCH\\) but CMakeLists.txt project\\(VERSION\\) is")
  message(FATAL_ERROR "configuring failed, but not with the version message:\n${_err}")
endif()
file(REMOVE_RECURSE "${WORK}")
message(STATUS "configuring refused nn.h with NN_VERSION_MINOR ${_other}")
