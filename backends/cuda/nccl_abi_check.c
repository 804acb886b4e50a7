/* nccl_abi_check.c - compiled (never run) where the toolkit has nccl.h: the values the backend
 * passes to NCCL through its own declarations (xcu_coll_symbols.h) must equal nccl.h's. RCCL
 * keeps NCCL's values. A mismatch fails the build. */
#include <nccl.h>

#include "xcu_coll_symbols.h"

_Static_assert((int)ncclSuccess == XCU_NCCL_SUCCESS, "ncclSuccess");
_Static_assert((int)ncclInt8 == XCU_NCCL_INT8, "ncclInt8");
_Static_assert((int)ncclUint8 == XCU_NCCL_UINT8, "ncclUint8");
_Static_assert((int)ncclInt32 == XCU_NCCL_INT32, "ncclInt32");
_Static_assert((int)ncclInt64 == XCU_NCCL_INT64, "ncclInt64");
_Static_assert((int)ncclFloat16 == XCU_NCCL_FLOAT16, "ncclFloat16");
_Static_assert((int)ncclFloat32 == XCU_NCCL_FLOAT32, "ncclFloat32");
_Static_assert((int)ncclFloat64 == XCU_NCCL_FLOAT64, "ncclFloat64");
_Static_assert((int)ncclBfloat16 == XCU_NCCL_BFLOAT16, "ncclBfloat16");
_Static_assert((int)ncclSum == XCU_NCCL_SUM, "ncclSum");
_Static_assert((int)ncclMax == XCU_NCCL_MAX, "ncclMax");
_Static_assert(sizeof(ncclComm_t) == sizeof(void *), "ncclComm_t is a pointer");
_Static_assert(sizeof(ncclResult_t) == sizeof(int), "ncclResult_t is an int");
_Static_assert(sizeof(ncclDataType_t) == sizeof(int) && sizeof(ncclRedOp_t) == sizeof(int), "enums are ints");
_Static_assert(XCU_COLL_MIN_VERSION <= NCCL_VERSION_CODE, "the toolkit's NCCL is older than xhal needs");

/* a translation unit must declare something */
int xcu_nccl_abi_checked(void);
int xcu_nccl_abi_checked(void) { return NCCL_VERSION_CODE; }
