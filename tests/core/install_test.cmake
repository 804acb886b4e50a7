# Install the build into a scratch prefix, then build and run a consumer program against it
# twice: once with find_package(xhal CONFIG), once with pkg-config.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/consumer)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix RESULT_VARIABLE r OUTPUT_QUIET)
if(r)
  message(FATAL_ERROR "cmake --install failed: ${r}")
endif()
file(WRITE ${WORK}/consumer/main.c [=[
#include <xhal/xhal.h>
#include <stdio.h>
int main(void) {
    xhal_context *ctx; xhal_device *dev; xhal_stream *s; xhal_tensor *t;
    int64_t n = 4; float v[4];
    if (xhal_context_create(NULL, &ctx) || xhal_device_find(ctx, "cpu", &dev) || xhal_stream_create(dev, &s) ||
        xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &t) || xhal_fill(s, t, 2.5) ||
        xhal_tensor_read(s, t, v, sizeof v)) { printf("failed: %s\n", xhal_last_error()); return 1; }
    printf("xhal %s: cpu fill gives %g\n", xhal_version(), v[3]);
    xhal_context_destroy(ctx);
    return v[3] == 2.5f ? 0 : 1;
}
]=])
file(WRITE ${WORK}/consumer/CMakeLists.txt [=[
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(xhal CONFIG REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE xhal::xhal)
]=])
# A sanitizer build of libxhal needs consumers built with the same sanitizers.
set(san_flags "")
if(SANITIZE)
  set(san_flags "-fsanitize=${SANITIZE}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK}/consumer -B ${WORK}/consumer/build -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_C_COMPILER=${CC} "-DCMAKE_C_FLAGS=${san_flags}"
  "-DCMAKE_EXE_LINKER_FLAGS=${san_flags}" RESULT_VARIABLE r)
if(r)
  message(FATAL_ERROR "configuring the consumer with find_package(xhal) failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/consumer/build RESULT_VARIABLE r)
if(r)
  message(FATAL_ERROR "building the consumer failed")
endif()
# The installed plugins are found relative to the installed libxhal (no XHAL_PLUGIN_PATH).
execute_process(COMMAND ${WORK}/consumer/build/consumer RESULT_VARIABLE r)
if(r)
  message(FATAL_ERROR "the CMake-built consumer failed")
endif()
# pkg-config
execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${WORK}/prefix/lib/pkgconfig pkg-config --cflags --libs xhal
  RESULT_VARIABLE r OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE)
if(r)
  message(FATAL_ERROR "pkg-config does not know the installed xhal")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${CC} ${san_flags} ${WORK}/consumer/main.c ${flags} -o ${WORK}/consumer/consumer-pc RESULT_VARIABLE r)
if(r)
  message(FATAL_ERROR "compiling with pkg-config flags (${flags}) failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${WORK}/prefix/lib ${WORK}/consumer/consumer-pc
  RESULT_VARIABLE r)
if(r)
  message(FATAL_ERROR "the pkg-config-built consumer failed")
endif()
message(STATUS "install test: CMake package and pkg-config consumers both ran")

# The installed tools, run from the prefix with no environment: they find libxhal through their
# $ORIGIN-relative RUNPATH, the plugins beside libxhal, and the conformance data installed
# under share/xhal (not the source tree's, which this machine also has).
set(P ${WORK}/prefix)
foreach(f share/doc/xhal/README.md share/doc/xhal/backends/README.md
          share/xhal/conformance/vectors/default/cases.json)
  if(NOT EXISTS ${P}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
function(run_installed label expect_regex)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${ARGN}
    RESULT_VARIABLE r OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(r OR NOT out MATCHES "${expect_regex}")
    message(FATAL_ERROR "${label} failed (exit ${r}):\n${out}\n${err}")
  endif()
  message(STATUS "${label}: ok")
endfunction()
run_installed("installed xhal-info" "cpu +loaded" ${P}/bin/xhal-info)
run_installed("installed xhal-conform" "" ${P}/bin/xhal-conform --device cpu:0 --suite ops,vectors,model
  --filter "^(fill|add|mul)/f32/|^vectors/|^model" --report ${WORK}/report --format json --quiet)
file(READ ${WORK}/report/report.json report)
string(JSON vectors_dir GET "${report}" options vectors)
if(NOT vectors_dir MATCHES "^${P}/bin/")
  message(FATAL_ERROR "the installed xhal-conform read vectors from ${vectors_dir}, not from ${P}")
endif()
string(JSON n_models LENGTH "${report}" families 0 devices 0 model_suite results)
if(n_models LESS 1)
  message(FATAL_ERROR "the installed xhal-conform found no reference models")
endif()
# A moved installation still runs.
file(RENAME ${P} ${WORK}/moved)
run_installed("moved xhal-info" "cpu +loaded" ${WORK}/moved/bin/xhal-info)
file(RENAME ${WORK}/moved ${P})

# libxhal-formats from the installed package: xhal::xhal-formats and pkg-config xhal-formats.
file(MAKE_DIRECTORY ${WORK}/formats)
file(WRITE ${WORK}/formats/main.c [=[
#include <xhal/xhal_gguf.h>
#include <stdio.h>
int main(void) {
    static const unsigned char hdr[24] = {'G', 'G', 'U', 'F', 3}; /* v3, no tensors, no keys */
    xhal_gguf *g = NULL;
    if (xhal_gguf_open_memory(hdr, sizeof hdr, &g) != XHAL_OK) { printf("failed: %s\n", xhal_last_error()); return 1; }
    int64_t n = -1;
    xhal_gguf_tensor_count(g, &n);
    xhal_gguf_close(g);
    return n == 0 ? 0 : 1;
}
]=])
file(WRITE ${WORK}/formats/CMakeLists.txt [=[
cmake_minimum_required(VERSION 3.25)
project(formats_consumer C)
find_package(xhal CONFIG REQUIRED)
add_executable(formats_consumer main.c)
target_link_libraries(formats_consumer PRIVATE xhal::xhal-formats)
]=])
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK}/formats -B ${WORK}/formats/build -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_C_COMPILER=${CC} "-DCMAKE_C_FLAGS=${san_flags}"
  "-DCMAKE_EXE_LINKER_FLAGS=${san_flags}" RESULT_VARIABLE r OUTPUT_QUIET)
if(NOT r)
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/formats/build RESULT_VARIABLE r OUTPUT_QUIET)
endif()
if(NOT r)
  execute_process(COMMAND ${WORK}/formats/build/formats_consumer RESULT_VARIABLE r)
endif()
if(r)
  message(FATAL_ERROR "the CMake consumer of xhal::xhal-formats failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${WORK}/prefix/lib/pkgconfig pkg-config --cflags --libs xhal-formats
  RESULT_VARIABLE r OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE)
if(r)
  message(FATAL_ERROR "pkg-config does not know the installed xhal-formats")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${CC} ${san_flags} ${WORK}/formats/main.c ${flags} -o ${WORK}/formats/consumer-pc RESULT_VARIABLE r)
if(NOT r)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${WORK}/prefix/lib ${WORK}/formats/consumer-pc
    RESULT_VARIABLE r)
endif()
if(r)
  message(FATAL_ERROR "the pkg-config consumer of xhal-formats (${flags}) failed")
endif()
message(STATUS "install test: xhal-formats consumers (CMake package and pkg-config) ran")
