/* The f32 build of the host op kernels for the stand-in (see standin_kernels.cpp). */
#define STANDIN_TABLE standin_kernels_f32
#include "standin_kernels.cpp"
