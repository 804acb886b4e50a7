/*
 * xcu_coll_symbols.h - every call of the collective library (NCCL for CUDA, RCCL for HIP: the
 * same names and values), listed once. XCU_COLL_SYMBOLS(X) expands X(ret, name, params); it is
 * expanded in xcu_coll.c into the function-pointer struct and into its resolver, so a call
 * cannot be used unresolved and a missing symbol is named in the reason. Types are the
 * backend's own: no NCCL header is needed to build (tests/cuda_backend/check_nccl_abi.c checks
 * the values below against nccl.h where the toolkit has it).
 */
#ifndef XCU_COLL_SYMBOLS_H
#define XCU_COLL_SYMBOLS_H

#include "xcu_api.h"

#include <stddef.h>

/* ncclResult_t, ncclDataType_t and ncclRedOp_t values (nccl.h, rccl.h) */
enum { XCU_NCCL_SUCCESS = 0 };
enum {
    XCU_NCCL_INT8 = 0,
    XCU_NCCL_UINT8 = 1,
    XCU_NCCL_INT32 = 2,
    XCU_NCCL_INT64 = 4,
    XCU_NCCL_FLOAT16 = 6,
    XCU_NCCL_FLOAT32 = 7,
    XCU_NCCL_FLOAT64 = 8,
    XCU_NCCL_BFLOAT16 = 9
};
enum { XCU_NCCL_SUM = 0, XCU_NCCL_MAX = 2 };

#define XCU_COLL_SYMBOLS(X)                                                                                        \
    X(int, ncclGetVersion, (int *version))                                                                         \
    X(const char *, ncclGetErrorString, (int result))                                                              \
    X(int, ncclCommInitAll, (void **comms, int ndev, const int *devlist))                                          \
    X(int, ncclCommDestroy, (void *comm))                                                                          \
    X(int, ncclGroupStart, (void))                                                                                 \
    X(int, ncclGroupEnd, (void))                                                                                   \
    X(int, ncclAllReduce,                                                                                          \
      (const void *sendbuff, void *recvbuff, size_t count, int datatype, int op, void *comm, xcu_stream stream))   \
    X(int, ncclBroadcast,                                                                                          \
      (const void *sendbuff, void *recvbuff, size_t count, int datatype, int root, void *comm, xcu_stream stream)) \
    X(int, ncclReduce,                                                                                             \
      (const void *sendbuff, void *recvbuff, size_t count, int datatype, int op, int root, void *comm,             \
       xcu_stream stream))                                                                                         \
    X(int, ncclAllGather,                                                                                          \
      (const void *sendbuff, void *recvbuff, size_t sendcount, int datatype, void *comm, xcu_stream stream))       \
    X(int, ncclReduceScatter,                                                                                      \
      (const void *sendbuff, void *recvbuff, size_t recvcount, int datatype, int op, void *comm, xcu_stream stream))

#endif
