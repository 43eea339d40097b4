# versions_in_step: every place that states libnn's version agrees with the
# one source, CMakeLists.txt project(VERSION) (passed as -DVERSION=...):
#   include/nn.h NN_VERSION_*              (configuring checks it too)
#   bindings/rust/Cargo.toml, src/sys.rs NN_VERSION_*
#   bindings/julia/NN/Project.toml, src/NN.jl NN_VERSION_*
#   bindings/python/pyproject.toml, nn/_version.py
#   cmake -DVERSION=0.1.0 -DROOT=<source> -P tests/check_versions.cmake
if(NOT VERSION OR NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DVERSION=x.y.z -DROOT=<source dir> -P check_versions.cmake")
endif()
string(REPLACE "." ";" _parts "${VERSION}")
list(GET _parts 0 _major)
list(GET _parts 1 _minor)
list(GET _parts 2 _patch)
set(_bad "")

# A file's first match of REGEX (group 1) must equal WANT.
function(expect file regex want)
  if(NOT EXISTS "${ROOT}/${file}")
    set(_bad "${_bad}\n  ${file}: missing" PARENT_SCOPE)
    return()
  endif()
  file(STRINGS "${ROOT}/${file}" _lines REGEX "${regex}")
  set(_got "")
  foreach(_l IN LISTS _lines)
    if(_l MATCHES "${regex}")
      set(_got "${CMAKE_MATCH_1}")
      break()
    endif()
  endforeach()
  if(NOT _got STREQUAL "${want}")
    set(_bad "${_bad}\n  ${file}: '${_got}' where '${want}' was expected (${regex})" PARENT_SCOPE)
  else()
    message(STATUS "${file}: ${_got}")
  endif()
endfunction()

foreach(_p MAJOR MINOR PATCH)
  string(TOLOWER ${_p} _lp)
  expect(include/nn.h "^#define NN_VERSION_${_p} +([0-9]+)" "${_${_lp}}")
  expect(bindings/rust/src/sys.rs "NN_VERSION_${_p}: c_int = ([0-9]+);" "${_${_lp}}")
  expect(bindings/julia/NN/src/NN.jl "^const NN_VERSION_${_p} = ([0-9]+)" "${_${_lp}}")
endforeach()
expect(bindings/rust/Cargo.toml "^version = \"([^\"]*)\"" "${VERSION}")
expect(bindings/julia/NN/Project.toml "^version = \"([^\"]*)\"" "${VERSION}")
expect(bindings/python/pyproject.toml "^version = \"([^\"]*)\"" "${VERSION}")
expect(bindings/python/nn/_version.py "^VERSION = \"([^\"]*)\"" "${VERSION}")

if(_bad)
  message(FATAL_ERROR "versions differ from CMakeLists.txt project(VERSION ${VERSION}):${_bad}")
endif()
message(STATUS "versions_in_step: every manifest says ${VERSION}")
