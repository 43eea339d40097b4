# Install rules and package files for libnn.
#
# Included from the root CMakeLists.txt after the `nn` target exists. Installs
#   <libdir>/libnn.so.0.1.0, libnn.so.0 (SONAME), libnn.so (namelink)
#   <includedir>/nn.h
#   <libdir>/cmake/nn/{nnConfig,nnConfigVersion,nnTargets*}.cmake
#   <libdir>/pkgconfig/nn.pc
# so that another project can use either
#   find_package(nn 0.1 REQUIRED)  +  target_link_libraries(app PRIVATE nn::nn)
# or
#   cc app.c $(pkg-config --cflags --libs nn)
# Every installed file refers to the others by relative paths, so an installed
# tree can be moved (or installed with `cmake --install build --prefix DIR`).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Building the Python package (scikit-build-core sets SKBUILD): install only
# the library, as one file named by its SONAME (wheels hold no symlinks), into
# the package folder nn/ where the binding looks first. No header, CMake or
# pkg-config files: the wheel is a Python package, not a C SDK.
if(SKBUILD)
  set_target_properties(nn PROPERTIES VERSION ${PROJECT_VERSION_MAJOR})
  install(TARGETS nn LIBRARY DESTINATION nn NAMELINK_SKIP)
  return()
endif()

if(NOT TARGET nn::nn)
  add_library(nn::nn ALIAS nn)
endif()
set_target_properties(nn PROPERTIES EXPORT_NAME nn)

set(NN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/nn"
    CACHE STRING "Where to install nnConfig.cmake (relative to the prefix)")
set(NN_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where to install nn.pc (relative to the prefix)")
mark_as_advanced(NN_INSTALL_CMAKEDIR NN_INSTALL_PKGCONFIGDIR)

install(TARGETS nn
  EXPORT nnTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    COMPONENT Runtime
    NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Development
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT Runtime
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(FILES "${PROJECT_SOURCE_DIR}/include/nn.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT Development)

install(EXPORT nnTargets
  NAMESPACE nn::
  FILE nnTargets.cmake
  DESTINATION "${NN_INSTALL_CMAKEDIR}"
  COMPONENT Development)

# Let a project use a build tree directly: -Dnn_DIR=<build>.
export(EXPORT nnTargets NAMESPACE nn:: FILE "${PROJECT_BINARY_DIR}/nnTargets.cmake")

# Dependencies consumers must find too. libnn.so links oneDNN privately, so
# normally there are none; should a package ever appear in nn's interface
# (PUBLIC/INTERFACE linking, or a static libnn), nnConfig.cmake finds it.
set(NN_CONFIG_DEPENDENCIES "")
set(NN_PC_LIBS_PRIVATE "")
get_target_property(_nn_type nn TYPE)
get_target_property(_nn_iface nn INTERFACE_LINK_LIBRARIES)
if(NOT _nn_iface)
  set(_nn_iface "")
endif()
if(_nn_type STREQUAL "STATIC_LIBRARY")
  get_target_property(_nn_priv nn LINK_LIBRARIES)
  if(_nn_priv)
    list(APPEND _nn_iface ${_nn_priv})
  endif()
endif()
set(_nn_seen "")
foreach(_lib IN LISTS _nn_iface)
  set(_dep "")
  if(_lib MATCHES "DNNL::|dnnl")
    set(_dep "find_dependency(dnnl CONFIG)")
  elseif(_lib MATCHES "Threads::")
    set(_dep "find_dependency(Threads)")
  elseif(_lib MATCHES "OpenMP::")
    # find_dependency(OpenMP) would need the client to enable C++ (the
    # component libnn uses); the libraries found here stand in for it.
    set(_dep "if(NOT TARGET OpenMP::OpenMP_CXX)
  add_library(OpenMP::OpenMP_CXX INTERFACE IMPORTED)
  set_target_properties(OpenMP::OpenMP_CXX PROPERTIES
    INTERFACE_LINK_LIBRARIES \"${OpenMP_CXX_LIBRARIES}\")
endif()")
  endif()
  if(_dep AND NOT _dep IN_LIST _nn_seen)
    list(APPEND _nn_seen "${_dep}")
    string(APPEND NN_CONFIG_DEPENDENCIES "${_dep}\n")
  endif()
endforeach()

# nn.pc of a static libnn.a: its private dependencies go straight into Libs
# (there is no shared libnn for `pkg-config --libs nn` to lean on).
if(_nn_type STREQUAL "STATIC_LIBRARY")
  set(NN_PC_LIBS_PRIVATE " -ldnnl")
  foreach(_l IN LISTS OpenMP_CXX_LIBRARIES)
    get_filename_component(_n "${_l}" NAME_WE)
    string(REGEX REPLACE "^lib" "" _n "${_n}")
    if(_n STREQUAL "pthread")
      continue()
    endif()
    string(APPEND NN_PC_LIBS_PRIVATE " -l${_n}")
  endforeach()
  if(CMAKE_DL_LIBS)
    string(APPEND NN_PC_LIBS_PRIVATE " -l${CMAKE_DL_LIBS}")
  endif()
  string(APPEND NN_PC_LIBS_PRIVATE " -lpthread -lstdc++ -lm")
endif()

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/nnConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/nnConfig.cmake"
  INSTALL_DESTINATION "${NN_INSTALL_CMAKEDIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)

# 0.x: every minor release may break the ABI, so only the same major.minor is
# compatible; from 1.0 on the SONAME major is the compatibility line.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_nn_compat SameMinorVersion)
else()
  set(_nn_compat SameMajorVersion)
endif()
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/nnConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY ${_nn_compat})

install(FILES
  "${PROJECT_BINARY_DIR}/nnConfig.cmake"
  "${PROJECT_BINARY_DIR}/nnConfigVersion.cmake"
  DESTINATION "${NN_INSTALL_CMAKEDIR}"
  COMPONENT Development)

# nn.pc: paths relative to the .pc file (${pcfiledir}) so the prefix can move.
if(IS_ABSOLUTE "${NN_INSTALL_PKGCONFIGDIR}")
  set(NN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _nn_rel "/__prefix__/${NN_INSTALL_PKGCONFIGDIR}" "/__prefix__")
  string(REGEX REPLACE "/$" "" _nn_rel "${_nn_rel}")
  set(NN_PC_PREFIX "\${pcfiledir}/${_nn_rel}")
endif()
foreach(_d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
    set(NN_PC_${_d} "${CMAKE_INSTALL_${_d}}")
  else()
    set(NN_PC_${_d} "\${prefix}/${CMAKE_INSTALL_${_d}}")
  endif()
endforeach()
configure_file("${CMAKE_CURRENT_LIST_DIR}/nn.pc.in" "${PROJECT_BINARY_DIR}/nn.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/nn.pc"
  DESTINATION "${NN_INSTALL_PKGCONFIGDIR}"
  COMPONENT Development)

unset(_nn_type)
unset(_nn_iface)
unset(_nn_priv)
unset(_nn_seen)
unset(_nn_rel)
unset(_nn_compat)
