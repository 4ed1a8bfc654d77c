# Finds the Z3 SMT solver (Debian's libz3-dev ships no CMake package) and defines z3::libz3.
# Prefers an installed Z3Config.cmake when there is one.
find_package(Z3 CONFIG QUIET NO_MODULE)
if(Z3_FOUND AND TARGET z3::libz3)
  return()
endif()

find_path(Z3_INCLUDE_DIR NAMES z3++.h z3.h PATH_SUFFIXES z3)
find_library(Z3_LIBRARY NAMES z3 libz3)
if(Z3_INCLUDE_DIR AND EXISTS "${Z3_INCLUDE_DIR}/z3_version.h")
  file(STRINGS "${Z3_INCLUDE_DIR}/z3_version.h" _z3_version_lines REGEX "#define Z3_(MAJOR|MINOR|BUILD)_(VERSION|NUMBER)")
  string(REGEX REPLACE ".*Z3_MAJOR_VERSION +([0-9]+).*" "\\1" _z3_major "${_z3_version_lines}")
  string(REGEX REPLACE ".*Z3_MINOR_VERSION +([0-9]+).*" "\\1" _z3_minor "${_z3_version_lines}")
  string(REGEX REPLACE ".*Z3_BUILD_NUMBER +([0-9]+).*" "\\1" _z3_build "${_z3_version_lines}")
  set(Z3_VERSION "${_z3_major}.${_z3_minor}.${_z3_build}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Z3 REQUIRED_VARS Z3_LIBRARY Z3_INCLUDE_DIR VERSION_VAR Z3_VERSION)

if(Z3_FOUND AND NOT TARGET z3::libz3)
  add_library(z3::libz3 UNKNOWN IMPORTED)
  set_target_properties(z3::libz3 PROPERTIES
    IMPORTED_LOCATION "${Z3_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Z3_INCLUDE_DIR}")
endif()
mark_as_advanced(Z3_INCLUDE_DIR Z3_LIBRARY)
