/* dispatch.c - the one path from a validated op descriptor to a backend. */
#include "dispatch.h"
#include "fault.h"

#include <stdio.h>
#include <string.h>

xhal_status hal_dispatch(xhal_stream *s, xhal_op_desc *desc)
{
    hal_backend *b = s->dev->backend;
    desc->struct_size = sizeof *desc;
    const char *dt = xhal_dtype_name((xhal_dtype)(desc->n_inputs ? desc->inputs[0].dtype : desc->outputs[0].dtype));
    if (!hal_backend_knows_op(b, desc->op)) /* the plugin was built before this op existed */
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "op %s (%s) is not supported on %s: backend '%s' was built for op catalogue version "
                             "%u, the op needs version %d or later",
                             xhal_op_name((xhal_op)desc->op), dt, s->dev->spec, b->info.name,
                             b->table->catalogue_version, desc->op + 1);
    xhal_status st = b->table->op_supported(b->state, s->dev->index, desc);
    if (st != XHAL_OK) {
        if (st == XHAL_ERROR_UNSUPPORTED)
            return hal_error_prefix(st, "op %s (%s) is not supported on %s", xhal_op_name((xhal_op)desc->op), dt,
                                    s->dev->spec);
        return hal_error_prefix(st, "op %s (%s) on %s", xhal_op_name((xhal_op)desc->op), dt, s->dev->spec);
    }
    if (hal_fault_hit("backend_call"))
        return hal_set_error(XHAL_ERROR_BACKEND, "injected fault: op %s (%s) on %s", xhal_op_name((xhal_op)desc->op),
                             dt, s->dev->spec);
    st = b->table->op_run(b->state, s->handle, desc);
    if (st != XHAL_OK)
        return hal_error_prefix(st, "op %s (%s) on %s", xhal_op_name((xhal_op)desc->op), dt, s->dev->spec);
    return XHAL_OK;
}
