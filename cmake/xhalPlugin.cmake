# xhal_add_plugin(<name> [OUTPUT_DIR dir] [INSTALL_DIR dir] [NO_INSTALL] sources...)
#
# Builds a backend plugin: a MODULE library named libxhal-<name>.so that compiles against the
# plugin headers only (xhal::plugin_headers: include/xhal/xhal_backend.h and
# include/xhal/plugin/) and does not link libxhal: everything a plugin needs from the host
# comes through the host services. Symbols are hidden by default (only the entry point that
# XHAL_PLUGIN_ENTRY defines is exported) and, unless XHAL_PLUGIN_NO_UNDEFINED is OFF, the
# plugin must resolve every symbol at link time (-Wl,--no-undefined), so a call into libxhal
# fails to link instead of failing at load.
#
#   OUTPUT_DIR   where the build puts the plugin (default: XHAL_PLUGIN_OUTPUT_DIR if set, else
#                the build's own choice)
#   INSTALL_DIR  where `cmake --install` puts it (default: XHAL_PLUGIN_INSTALL_DIR, which is
#                <libdir>/xhal of the project being built). To install straight into the
#                xhal installation that find_package(xhal) found, pass ${XHAL_PLUGIN_DIR}.
#   NO_INSTALL   no install rule
#
# Used in the xhal tree (backends/*) and, installed, by find_package(xhal).
include_guard(GLOBAL)
include(GNUInstallDirs)
if(NOT DEFINED XHAL_PLUGIN_INSTALL_DIR)
  set(XHAL_PLUGIN_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/xhal)
endif()
if(NOT DEFINED XHAL_PLUGIN_NO_UNDEFINED)
  set(XHAL_PLUGIN_NO_UNDEFINED ON)
endif()

function(xhal_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIR;INSTALL_DIR" "" ${ARGN})
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "xhal_add_plugin: '${name}' is not a backend name (1-31 of [a-z0-9_])")
  endif()
  add_library(xhal-${name} MODULE ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(xhal-${name} PRIVATE xhal::plugin_headers)
  set_target_properties(xhal-${name} PROPERTIES PREFIX "lib" OUTPUT_NAME "xhal-${name}"
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "$ORIGIN") # a plugin may ship libraries of its own beside it
  if(NOT ARG_OUTPUT_DIR AND DEFINED XHAL_PLUGIN_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR ${XHAL_PLUGIN_OUTPUT_DIR})
  endif()
  if(ARG_OUTPUT_DIR)
    set_target_properties(xhal-${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR})
  endif()
  if(XHAL_PLUGIN_NO_UNDEFINED)
    target_link_options(xhal-${name} PRIVATE -Wl,--no-undefined)
  endif()
  if(NOT ARG_NO_INSTALL)
    if(NOT ARG_INSTALL_DIR)
      set(ARG_INSTALL_DIR ${XHAL_PLUGIN_INSTALL_DIR})
    endif()
    install(TARGETS xhal-${name} LIBRARY DESTINATION ${ARG_INSTALL_DIR})
  endif()
endfunction()
