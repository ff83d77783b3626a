# tailor's dependencies, found the same way when building tailor and when a user's project
# does find_package(tailor) (tailorConfig.cmake includes this file).
#   Eigen3 (CMake package), nlohmann_json (CMake package), Threads,
#   utf8proc (library + header) -> tailor::utf8proc, stb (header dir) -> tailor::stb
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(nlohmann_json 3.2)
find_dependency(Threads)

if(NOT TARGET tailor::utf8proc)
  find_path(TAILOR_UTF8PROC_INCLUDE_DIR utf8proc.h)
  find_library(TAILOR_UTF8PROC_LIBRARY NAMES utf8proc)
  if(NOT TAILOR_UTF8PROC_INCLUDE_DIR OR NOT TAILOR_UTF8PROC_LIBRARY)
    message(FATAL_ERROR "tailor needs utf8proc (Debian/Ubuntu: apt install libutf8proc-dev)")
  endif()
  add_library(tailor::utf8proc UNKNOWN IMPORTED)
  set_target_properties(tailor::utf8proc PROPERTIES
    IMPORTED_LOCATION "${TAILOR_UTF8PROC_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${TAILOR_UTF8PROC_INCLUDE_DIR}")
endif()

if(NOT TARGET tailor::stb)
  find_path(TAILOR_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
  if(NOT TAILOR_STB_INCLUDE_DIR)
    message(FATAL_ERROR "tailor needs stb_image.h (Debian/Ubuntu: apt install libstb-dev)")
  endif()
  add_library(tailor::stb INTERFACE IMPORTED)
  set_target_properties(tailor::stb PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${TAILOR_STB_INCLUDE_DIR}")
endif()
