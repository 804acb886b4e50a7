/* dispatch.c - the one path from a validated op descriptor to a backend. */
#include "dispatch.h"
#include "fault.h"

#include <stdio.h>
#include <string.h>

/* The first feature of desc that an op of catalogue XHAL_CATALOGUE_ROPE_ATTENTION_EX added
 * (NULL: desc reads the same to a plugin built before). */
const char *hal_needs_rope_attention_ex(const xhal_op_desc *d)
{
    if (d->op == XHAL_OP_ROPE) {
        const double af = d->attrs.rope.attention_factor;
        if (d->attrs.rope.has_positions) return "rope with a positions tensor";
        if (d->attrs.rope.has_inv_freq) return "rope with an inv_freq tensor";
        if (af != 0.0 && af != 1.0) return "rope with an attention_factor other than 1";
    } else if (d->op == XHAL_OP_ATTENTION) {
        if (d->attrs.attention.window) return "attention with a sliding window";
        if (d->attrs.attention.softcap != 0.0) return "attention with a softcap";
        if (d->attrs.attention.has_q_pos0 && d->attrs.attention.q_pos0 != d->inputs[1].shape[2] - d->inputs[0].shape[2])
            return "attention with q_pos0 other than Sk - Sq";
    }
    return NULL;
}

xhal_status hal_dispatch(xhal_stream *s, xhal_op_desc *desc)
{
    hal_backend *b = s->dev->backend;
    desc->struct_size = sizeof *desc;
    /* the core's descriptors name xhal_buffers until here; the backend gets its handles */
    xhal_buffer *bufs[XHAL_MAX_OP_INPUTS + XHAL_MAX_OP_OUTPUTS];
    for (int i = 0; i < desc->n_inputs; i++) {
        bufs[i] = desc->inputs[i].buffer;
        desc->inputs[i].buffer = bufs[i]->handle;
    }
    for (int i = 0; i < desc->n_outputs; i++) {
        xhal_tensor_desc *o = (xhal_tensor_desc *)xhal_op_desc_output(desc, i);
        bufs[desc->n_inputs + i] = o->buffer;
        o->buffer = bufs[desc->n_inputs + i]->handle;
    }
    const char *dt = xhal_dtype_name((xhal_dtype)(desc->n_inputs ? desc->inputs[0].dtype : desc->outputs[0].dtype));
    if (!hal_backend_knows_op(b, desc->op)) /* the plugin was built before this op existed */
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "op %s (%s) is not supported on %s: backend '%s' was built for op catalogue version "
                             "%u, the op needs version %d or later",
                             xhal_op_name((xhal_op)desc->op), dt, s->dev->spec, b->info.name,
                             b->table->catalogue_version, desc->op + 1);
    const char *feature;
    if (b->table->catalogue_version < XHAL_CATALOGUE_ROPE_ATTENTION_EX && (feature = hal_needs_rope_attention_ex(desc)))
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "op %s (%s) is not supported on %s: %s needs op catalogue version %u or later, backend "
                             "'%s' was built for version %u",
                             xhal_op_name((xhal_op)desc->op), dt, s->dev->spec, feature,
                             (unsigned)XHAL_CATALOGUE_ROPE_ATTENTION_EX, b->info.name, b->table->catalogue_version);
    xhal_status st = b->table->op_supported(b->state, s->dev->index, desc);
    if (st != XHAL_OK) {
        if (st == XHAL_ERROR_UNSUPPORTED)
            return hal_error_prefix(st, "op %s (%s) is not supported on %s", xhal_op_name((xhal_op)desc->op), dt,
                                    s->dev->spec);
        return hal_error_prefix(st, "op %s (%s) on %s", xhal_op_name((xhal_op)desc->op), dt, s->dev->spec);
    }
    if (s->capture) return hal_graph_record(s, desc, bufs);
    if (hal_fault_hit("backend_call"))
        return hal_set_error(XHAL_ERROR_BACKEND, "injected fault: op %s (%s) on %s", xhal_op_name((xhal_op)desc->op),
                             dt, s->dev->spec);
    st = b->table->op_run(b->state, s->handle, desc);
    if (st != XHAL_OK)
        return hal_error_prefix(st, "op %s (%s) on %s", xhal_op_name((xhal_op)desc->op), dt, s->dev->spec);
    return XHAL_OK;
}
