# Runs `mpirun -np 2 xhal-conform --suite collectives --mpi --device cpu:0` with the mutant MPI
# engine (mutant_engine.c) for XHAL_ENGINE_MUTANT = 0 .. N_MUTANTS-1: mutant 0 (no defect) must
# pass; every other must make the suite fail (exit status 1, a failed case reported), not crash.
#   cmake -DMPIRUN=... -DNP_FLAG=... -DCONFORM=xhal-conform -DENGINE=libxhal_mpi_mutant.so
#         -DN_MUTANTS=7 -P coll_mutants.cmake
math(EXPR last "${N_MUTANTS} - 1")
set(survivors)
foreach(k RANGE 0 ${last})
  set(ENV{XHAL_MPI_ENGINE} ${ENGINE})
  set(ENV{XHAL_ENGINE_MUTANT} ${k})
  execute_process(COMMAND ${MPIRUN} --allow-run-as-root --oversubscribe -x XHAL_MPI_ENGINE -x XHAL_ENGINE_MUTANT
      ${NP_FLAG} 2 ${CONFORM} --suite collectives --mpi --device cpu:0 --quiet
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REGEX MATCH "[0-9]+ failed" failed "${out}${err}")
  message("mutant ${k}: exit ${rc}, ${failed}")
  if(k EQUAL 0)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "the engine without a defect failed the suite:\n${out}${err}")
    endif()
  elseif(NOT rc EQUAL 1 OR failed STREQUAL "" OR failed STREQUAL "0 failed")
    list(APPEND survivors ${k})
    message("${out}${err}")
  endif()
endforeach()
if(survivors)
  message(FATAL_ERROR "mutants the collectives suite did not kill: ${survivors}")
endif()
