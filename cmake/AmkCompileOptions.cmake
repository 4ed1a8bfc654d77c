# Warnings as errors and assertions on in every build type: a checker whose asserts vanish in
# release builds is a checker that certifies on corrupted state.
function(amk_component_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(AMK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  target_compile_options(${target} PRIVATE -UNDEBUG)
endfunction()

# Strip NDEBUG from the default flags so that assert() stays live in RelWithDebInfo/Release.
foreach(flags_var CMAKE_CXX_FLAGS_RELEASE CMAKE_CXX_FLAGS_RELWITHDEBINFO CMAKE_CXX_FLAGS_MINSIZEREL)
  string(REPLACE "-DNDEBUG" "" ${flags_var} "${${flags_var}}")
  set(${flags_var} "${${flags_var}}" CACHE STRING "" FORCE)
endforeach()
