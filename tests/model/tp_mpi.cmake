# The tensor-parallel port across processes: `mpirun -np 2 xhal-run --tp 2` against the
# one-device xhal-run on the same model and prompt: the greedy ids must be equal and the prompt's
# logits within the bound of conformance/MODELS.md (npy_close). Run by ctest as
#   cmake -DMPIRUN=... -DNP_FLAG=... -DRUN=xhal-run -DCLOSE=npy_close -DMODEL=DIR -DTOL=X
#         -DOUT=DIR [-DDEVICES=cpu:0,opencl:0] -P tp_mpi.cmake
set(tokens 1,17,42,99,123,7,250,33,5,181)
set(dev_args)
if(DEVICES)
  set(dev_args --device ${DEVICES})
endif()
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${MPIRUN} --allow-run-as-root --oversubscribe ${NP_FLAG} 2 ${RUN} --model ${MODEL}
    --tokens ${tokens} --generate 16 --tp 2 ${dev_args} --logits-out ${OUT}/tp.npy
  OUTPUT_VARIABLE tp_ids ERROR_VARIABLE tp_err RESULT_VARIABLE rc)
message("mpirun -np 2 xhal-run --tp 2 --device ${DEVICES}: ${tp_ids}${tp_err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mpirun xhal-run --tp 2 failed (${rc})")
endif()
execute_process(COMMAND ${RUN} --model ${MODEL} --tokens ${tokens} --generate 16 --quiet
    --logits-out ${OUT}/one.npy
  OUTPUT_VARIABLE one_ids RESULT_VARIABLE rc)
message("xhal-run on cpu:0: ${one_ids}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "xhal-run on one device failed (${rc})")
endif()
if(NOT tp_ids STREQUAL one_ids)
  message(FATAL_ERROR "greedy ids differ: tp '${tp_ids}' vs one device '${one_ids}'")
endif()
execute_process(COMMAND ${CLOSE} ${OUT}/tp.npy ${OUT}/one.npy ${TOL} RESULT_VARIABLE rc OUTPUT_VARIABLE cmp)
message("${cmp}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "logits outside the bound")
endif()
