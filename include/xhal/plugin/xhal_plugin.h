/*
 * xhal/plugin/xhal_plugin.h - what a backend plugin includes (installed with the headers;
 * a plugin needs nothing else from xhal, and must NOT link libxhal: everything it needs from
 * the host comes through xhal_host_services).
 *
 * It brings the ABI (xhal_backend.h), f16/bf16 conversions (xhal_half.h), dtype and op names
 * (xhal_names.h), a strided-iteration helper (xhal_iter.h), and the one entry-point helper:
 *
 *     static const xhal_backend_table my_table = {
 *         .abi_version = XHAL_BACKEND_ABI_VERSION,
 *         .struct_size = sizeof(xhal_backend_table),
 *         .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
 *         .name = "mychip", ...
 *     };
 *     XHAL_PLUGIN_ENTRY(my_table)
 *
 * XHAL_PLUGIN_ENTRY defines the exported xhal_backend_entry (write it in exactly one source
 * file of the plugin). When the host calls it, it checks that the host speaks this ABI
 * version and that its host services are at least as large as this version needs, refuses
 * otherwise through host->set_error with both versions named, and keeps a copy of the host
 * services that every file of the plugin reads with xhal_plugin_host() (entries the host
 * does not provide, e.g. topology on a host without it, read as NULL). The same services also
 * reach init(host, &state); a plugin may keep either.
 *
 * The core calls entry points one at a time (under a process-wide lock), so the copy is never
 * written while another entry call runs; it is written only when its content changes.
 */
#ifndef XHAL_PLUGIN_H
#define XHAL_PLUGIN_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../xhal_backend.h"
#include "xhal_half.h"
#include "xhal_iter.h"
#include "xhal_names.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define XHAL_PLUGIN_HIDDEN
#else
#define XHAL_PLUGIN_HIDDEN __attribute__((visibility("hidden")))
#endif

/* The plugin's copy of the host services (defined by XHAL_PLUGIN_ENTRY; hidden, so every
 * plugin has its own). Read it through xhal_plugin_host(). */
extern XHAL_PLUGIN_HIDDEN xhal_host_services xhal_plugin_host_services_;

/* The host services, valid from the entry call on (after XHAL_PLUGIN_ENTRY accepted the host). */
static inline const xhal_host_services *xhal_plugin_host(void) { return &xhal_plugin_host_services_; }

/* 1 if the host's xhal_device_info (info->struct_size bytes) has room for `field`: a plugin
 * built against a newer header checks this before writing a field the host may not know. */
#define XHAL_PLUGIN_INFO_HAS(info, field) \
    ((info)->struct_size >= offsetof(xhal_device_info, field) + sizeof((info)->field))

/* The operand whose dtype the DTYPES column of xhal_op_table.h speaks of: in[0], or out[0]
 * for ops without inputs (FILL). A backend's op_supported checks it against the column and
 * against what its runner for the op's family computes in:
 *     if (!(xhal_op_dtypes_of(desc->op) & my_family_dtypes & XHAL_DTYPE_BIT(xhal_op_data_dtype(desc)))) ...
 */
static inline int xhal_op_data_dtype(const xhal_op_desc *desc)
{
    if (desc->n_inputs > 0) return desc->inputs[0].dtype;
    return desc->n_outputs > 0 ? desc->outputs[0].dtype : XHAL_DTYPE_INVALID;
}

/* 1 when desc's data dtype is in its op's DTYPES column and in `kinds` (XHAL_DTYPE_BIT mask of
 * the dtypes the backend's runner for the op's family computes in); else 0 and why = "this
 * backend runs <op> on <the dtypes of both> only", for the backend's UNSUPPORTED message. */
static inline int xhal_op_dtype_ok(const xhal_op_desc *desc, unsigned kinds, char *why, size_t size)
{
    unsigned both = xhal_op_dtypes_of(desc->op) & kinds;
    char list[128];
    if (both & XHAL_DTYPE_BIT(xhal_op_data_dtype(desc))) return 1;
    snprintf(why, size, "this backend runs %s on %s only", xhal_names_op(desc->op),
             xhal_names_dtype_list(both, list, sizeof list));
    return 0;
}

/* The check behind XHAL_PLUGIN_ENTRY (call that macro, not this). */
static inline const xhal_backend_table *xhal_plugin_entry_(const xhal_backend_table *table, uint32_t host_abi_version,
                                                           const xhal_host_services *host)
{
    if (host == NULL || host->set_error == NULL) return NULL; /* no one to tell why */
    if (host_abi_version != XHAL_BACKEND_ABI_VERSION || host->abi_version != host_abi_version) {
        host->set_error(XHAL_ERROR_ABI_MISMATCH,
                        "plugin '%s' was built for backend ABI version %u, the host implements version %u", table->name,
                        (unsigned)XHAL_BACKEND_ABI_VERSION, (unsigned)host_abi_version);
        return NULL;
    }
    if (host->struct_size < XHAL_HOST_SERVICES_MIN_SIZE) {
        host->set_error(XHAL_ERROR_ABI_MISMATCH,
                        "plugin '%s': the host services are %u bytes, backend ABI version %u needs at least %u",
                        table->name, (unsigned)host->struct_size, (unsigned)XHAL_BACKEND_ABI_VERSION,
                        (unsigned)XHAL_HOST_SERVICES_MIN_SIZE);
        return NULL;
    }
    if (!host->log || !host->host_alloc || !host->host_calloc || !host->host_free || !host->inject_fault) {
        host->set_error(XHAL_ERROR_ABI_MISMATCH, "plugin '%s': the host services lack a required entry", table->name);
        return NULL;
    }
    if (table->abi_version != XHAL_BACKEND_ABI_VERSION || table->struct_size != sizeof(xhal_backend_table)) {
        host->set_error(XHAL_ERROR_ABI_MISMATCH,
                        "plugin '%s': its table says ABI version %u and %u bytes; fill abi_version and "
                        "struct_size with XHAL_BACKEND_ABI_VERSION (%u) and sizeof(xhal_backend_table) (%u)",
                        table->name, (unsigned)table->abi_version, (unsigned)table->struct_size,
                        (unsigned)XHAL_BACKEND_ABI_VERSION, (unsigned)sizeof(xhal_backend_table));
        return NULL;
    }
    /* Copy what the host has; fields of a newer header that the host lacks stay NULL. */
    xhal_host_services copy;
    size_t n = host->struct_size < sizeof copy ? host->struct_size : sizeof copy;
    memset(&copy, 0, sizeof copy);
    memcpy(&copy, host, n);
    if (memcmp(&copy, &xhal_plugin_host_services_, sizeof copy) != 0) xhal_plugin_host_services_ = copy;
    return table;
}

/* Defines the plugin's exported entry point for `table` (a const xhal_backend_table with
 * static storage) and the plugin's copy of the host services. Use it once per plugin. */
#define XHAL_PLUGIN_ENTRY(table)                                                                     \
    XHAL_PLUGIN_HIDDEN xhal_host_services xhal_plugin_host_services_;                                \
    XHAL_BACKEND_EXPORT const xhal_backend_table *xhal_backend_entry(uint32_t host_abi_version,      \
                                                                     const xhal_host_services *host) \
    {                                                                                                \
        return xhal_plugin_entry_(&(table), host_abi_version, host);                                 \
    }

#ifdef __cplusplus
}
#endif

#endif /* XHAL_PLUGIN_H */
