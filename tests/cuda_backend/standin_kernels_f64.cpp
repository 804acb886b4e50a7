/* The f64 build (XK_REAL_F64) of the host op kernels for the stand-in. */
#define XK_REAL_F64 1
#define STANDIN_TABLE standin_kernels_f64
#include "standin_kernels.cpp"
