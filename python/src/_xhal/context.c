/* context.c - xhal.Context (backends, devices, topology) and xhal.Device (info, locality,
 * links, default stream). */
#include <stdlib.h>
#include <string.h>

#include "xpy.h"

/* ================================================================ Context */

static PyObject *ctx_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    XpyContext *self = (XpyContext *)type->tp_alloc(type, 0);
    return (PyObject *)self;
}

static int ctx_init(XpyContext *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"plugin_path", "log_level", "no_default_plugins", "ignore_env_path", NULL};
    const char *plugin_path = NULL;
    PyObject *log_level = Py_None;
    int no_default = 0, ignore_env = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|zOpp:Context", kw, &plugin_path, &log_level, &no_default,
                                     &ignore_env))
        return -1;
    if (self->ctx) {
        PyErr_SetString(PyExc_RuntimeError, "Context.__init__ called twice");
        return -1;
    }
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.plugin_path = plugin_path;
    if (no_default) o.flags |= XHAL_CONTEXT_NO_DEFAULT_PLUGINS;
    if (ignore_env) o.flags |= XHAL_CONTEXT_IGNORE_ENV_PATH;
    if (log_level != Py_None) {
        if (PyUnicode_Check(log_level)) {
            static const char *names[] = {"off", "error", "warn", "info", "debug"};
            const char *s = PyUnicode_AsUTF8(log_level);
            if (!s) return -1;
            o.log_level = -2;
            for (int i = 0; i < 5; i++)
                if (strcmp(s, names[i]) == 0) o.log_level = i;
            if (o.log_level == -2) {
                xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "log_level '%s' is not one of off, error, warn, info, debug",
                              s);
                return -1;
            }
        } else {
            long v = PyLong_AsLong(log_level);
            if (v == -1 && PyErr_Occurred()) return -1;
            o.log_level = (int)v;
        }
    }
    xhal_context *ctx = NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_context_create(&o, &ctx);
    Py_END_ALLOW_THREADS if (st != XHAL_OK)
    {
        xpy_raise(st);
        return -1;
    }
    int n = 0;
    if ((st = xhal_device_count(ctx, &n)) != XHAL_OK) {
        xpy_raise(st);
        xhal_context_destroy(ctx);
        return -1;
    }
    self->default_streams = calloc((size_t)(n > 0 ? n : 1), sizeof(xhal_stream *));
    if (!self->default_streams) {
        xhal_context_destroy(ctx);
        PyErr_NoMemory();
        return -1;
    }
    self->ctx = ctx;
    self->n_devices = n;
    return 0;
}

static void ctx_dealloc(XpyContext *self)
{
    if (self->ctx) {
        /* destroys the default streams with everything else still alive in it */
        Py_BEGIN_ALLOW_THREADS xhal_context_destroy(self->ctx);
        Py_END_ALLOW_THREADS
    }
    free(self->default_streams);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ctx_ready(XpyContext *self)
{
    if (!self->ctx) {
        PyErr_SetString(PyExc_RuntimeError, "Context was not initialised");
        return 0;
    }
    return 1;
}

static PyObject *ctx_backends(XpyContext *self, PyObject *unused)
{
    if (!ctx_ready(self)) return NULL;
    int n = 0;
    xhal_status st = xhal_backend_count(self->ctx, &n);
    if (st != XHAL_OK) return xpy_raise(st);
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    for (int i = 0; i < n; i++) {
        xhal_backend_info bi;
        if ((st = xhal_backend_get_info(self->ctx, i, &bi)) != XHAL_OK) {
            Py_DECREF(list);
            return xpy_raise(st);
        }
        PyObject *d = Py_BuildValue("{s:s,s:s,s:s,s:s,s:I,s:s,s:i}", "name", bi.name, "version", bi.version, "path",
                                    bi.path, "reason", bi.reason, "abi_version", (unsigned)bi.abi_version, "state",
                                    bi.state == XHAL_BACKEND_LOADED ? "loaded" : "unavailable", "device_count",
                                    (int)bi.device_count);
        if (!d || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(d);
    }
    return list;
}

static PyObject *ctx_device(XpyContext *self, PyObject *arg)
{
    if (!ctx_ready(self)) return NULL;
    xhal_device *dev = NULL;
    xhal_status st;
    int index = -1;
    if (PyUnicode_Check(arg)) {
        const char *spec = PyUnicode_AsUTF8(arg);
        if (!spec) return NULL;
        st = xhal_device_find(self->ctx, spec, &dev);
    } else if (PyLong_Check(arg)) {
        index = (int)PyLong_AsLong(arg);
        if (index == -1 && PyErr_Occurred()) return NULL;
        st = xhal_device_get(self->ctx, index, &dev);
    } else {
        PyErr_Format(PyExc_TypeError, "device() takes a spec such as 'cpu:0' or an index, got %R", arg);
        return NULL;
    }
    if (st != XHAL_OK) return xpy_raise(st);
    return xpy_device_new(self, dev, index);
}

static PyObject *ctx_devices(XpyContext *self, PyObject *unused)
{
    if (!ctx_ready(self)) return NULL;
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    for (int i = 0; i < self->n_devices; i++) {
        xhal_device *dev = NULL;
        xhal_status st = xhal_device_get(self->ctx, i, &dev);
        if (st != XHAL_OK) {
            Py_DECREF(list);
            return xpy_raise(st);
        }
        PyObject *d = xpy_device_new(self, dev, i);
        if (!d || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(d);
    }
    return list;
}

static PyObject *ctx_topology_available(XpyContext *self, PyObject *unused)
{
    if (!ctx_ready(self)) return NULL;
    int avail = 0;
    char reason[1024];
    xhal_status st = xhal_topology_available(self->ctx, &avail, reason, sizeof reason);
    if (st != XHAL_OK) return xpy_raise(st);
    return Py_BuildValue("(Os)", avail ? Py_True : Py_False, reason);
}

static PyObject *ctx_topology(XpyContext *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"json", NULL};
    int json = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:topology", kw, &json)) return NULL;
    if (!ctx_ready(self)) return NULL;
    char *s = NULL;
    xhal_status st = xhal_topology_render(self->ctx, json ? XHAL_TOPOLOGY_RENDER_JSON : 0u, &s);
    if (st != XHAL_OK) return xpy_raise(st);
    PyObject *r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    xhal_topology_render_free(s);
    return r;
}

static PyObject *locality_dict(const xhal_locality *l)
{
    PyObject *numa = PyList_New(0);
    if (!numa) return NULL;
    for (int i = 0; i < l->numa_count && i < XHAL_TOPO_MAX_NUMA; i++) {
        PyObject *v = PyLong_FromLong(l->numa_nodes[i]);
        if (!v || PyList_Append(numa, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(numa);
            return NULL;
        }
        Py_DECREF(v);
    }
    return Py_BuildValue("{s:O,s:O,s:N,s:s,s:s}", "known", l->known ? Py_True : Py_False, "whole_machine",
                         l->whole_machine ? Py_True : Py_False, "numa_nodes", numa, "cpuset", l->cpuset, "pci_bus_id",
                         l->pci_bus_id);
}

static PyObject *ctx_pci_accelerators(XpyContext *self, PyObject *unused)
{
    if (!ctx_ready(self)) return NULL;
    int count = 0;
    xhal_status st = xhal_topology_pci_accelerators(self->ctx, NULL, 0, &count);
    if (st != XHAL_OK) return xpy_raise(st);
    xhal_pci_accelerator *a = count > 0 ? calloc((size_t)count, sizeof *a) : NULL;
    if (count > 0 && !a) return PyErr_NoMemory();
    int got = count;
    if (count > 0 && (st = xhal_topology_pci_accelerators(self->ctx, a, count, &got)) != XHAL_OK) {
        free(a);
        return xpy_raise(st);
    }
    if (got > count) got = count;
    PyObject *list = PyList_New(0);
    for (int i = 0; list && i < got; i++) {
        PyObject *loc = locality_dict(&a[i].locality);
        PyObject *d =
            loc ? Py_BuildValue("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:N}", "pci_bus_id", a[i].pci_bus_id, "vendor",
                                a[i].vendor, "device_name", a[i].device_name, "vendor_id", a[i].vendor_id, "device_id",
                                a[i].device_id, "class_id", a[i].class_id, "driven_by", a[i].driven_by, "locality", loc)
                : NULL;
        if (!d || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_CLEAR(list);
        } else
            Py_DECREF(d);
    }
    free(a);
    return list;
}

static PyObject *ctx_get_device_count(XpyContext *self, void *closure)
{
    if (!ctx_ready(self)) return NULL;
    return PyLong_FromLong(self->n_devices);
}

static PyObject *ctx_repr(XpyContext *self)
{
    return PyUnicode_FromFormat("<xhal.Context with %d device(s)>", self->n_devices);
}

static PyMethodDef ctx_methods[] = {
    {"backends", (PyCFunction)ctx_backends, METH_NOARGS,
     "backends() -> list[dict]: every backend found, loaded or unavailable (with the reason)."},
    {"device", (PyCFunction)ctx_device, METH_O,
     "device(spec_or_index) -> Device: 'cpu', 'cpu:0', 'opencl:1' or an index in [0, device_count)."},
    {"devices", (PyCFunction)ctx_devices, METH_NOARGS, "devices() -> list[Device]: every device, in load order."},
    {"topology_available", (PyCFunction)ctx_topology_available, METH_NOARGS,
     "topology_available() -> (bool, str): whether hwloc's topology loaded, and why not."},
    {"topology", (PyCFunction)(void (*)(void))ctx_topology, METH_VARARGS | METH_KEYWORDS,
     "topology(json=False) -> str: the machine report of xhal-info --topology (text or JSON)."},
    {"pci_accelerators", (PyCFunction)ctx_pci_accelerators, METH_NOARGS,
     "pci_accelerators() -> list[dict]: accelerators on PCI, with the xhal device driving each."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ctx_getset[] = {
    {"device_count", (getter)ctx_get_device_count, NULL, "Number of devices across every loaded backend.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject XpyContext_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.Context",
    .tp_basicsize = sizeof(XpyContext),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Context(plugin_path=None, log_level=None, no_default_plugins=False, ignore_env_path=False)\n\n"
              "Loads every backend plugin found in plugin_path (colon-separated absolute folders),\n"
              "XHAL_PLUGIN_PATH and the installation's plugin folder. A plugin that fails to load is\n"
              "listed by backends() as unavailable with its reason. Destroyed (with everything still\n"
              "alive in it) when the last object that uses it is gone.",
    .tp_new = ctx_new,
    .tp_init = (initproc)ctx_init,
    .tp_dealloc = (destructor)ctx_dealloc,
    .tp_methods = ctx_methods,
    .tp_getset = ctx_getset,
    .tp_repr = (reprfunc)ctx_repr,
};

/* ================================================================ Device */

PyObject *xpy_device_new(XpyContext *ctx, xhal_device *dev, int index)
{
    if (index < 0) {
        for (int i = 0; i < ctx->n_devices; i++) {
            xhal_device *d = NULL;
            if (xhal_device_get(ctx->ctx, i, &d) == XHAL_OK && d == dev) {
                index = i;
                break;
            }
        }
    }
    if (index < 0) return xpy_raise_msg(XHAL_ERROR_INTERNAL, "device not found in its context");
    XpyDevice *self = PyObject_New(XpyDevice, &XpyDevice_Type);
    if (!self) return NULL;
    Py_INCREF(ctx);
    self->ctx = ctx;
    self->dev = dev;
    self->index = index;
    return (PyObject *)self;
}

static void dev_dealloc(XpyDevice *self)
{
    Py_XDECREF(self->ctx);
    PyObject_Free(self);
}

xhal_stream *xpy_default_stream(XpyDevice *dev)
{
    XpyContext *c = dev->ctx;
    if (dev->index < 0 || dev->index >= c->n_devices) {
        xpy_raise_msg(XHAL_ERROR_INTERNAL, "device index out of range");
        return NULL;
    }
    if (!c->default_streams[dev->index]) {
        xhal_stream *s = NULL;
        xhal_status st = xhal_stream_create(dev->dev, &s);
        if (st != XHAL_OK) {
            xpy_raise(st);
            return NULL;
        }
        c->default_streams[dev->index] = s;
    }
    return c->default_streams[dev->index];
}

int xpy_resolve_stream(PyObject *stream, XpyDevice *dev, xhal_stream **out)
{
    if (!stream || stream == Py_None) {
        *out = xpy_default_stream(dev);
        return *out ? 0 : -1;
    }
    if (!XpyStream_Check(stream)) {
        PyErr_Format(PyExc_TypeError, "stream must be an xhal.Stream or None, got %R", stream);
        return -1;
    }
    *out = ((XpyStream *)stream)->s;
    return 0;
}

static PyObject *dev_info(XpyDevice *self, PyObject *unused)
{
    xhal_device_info i;
    xhal_status st = xhal_device_get_info(self->dev, &i);
    if (st != XHAL_OK) return xpy_raise(st);
    PyObject *dtypes = PyList_New(0), *caps = PyList_New(0);
    if (!dtypes || !caps) goto fail;
    for (int d = 1; d < (int)XHAL_DTYPE_END_ && d < 32; d++)
        if (i.dtypes & XHAL_DTYPE_BIT(d)) {
            PyObject *s = PyUnicode_FromString(xhal_dtype_name((xhal_dtype)d));
            if (!s || PyList_Append(dtypes, s) < 0) {
                Py_XDECREF(s);
                goto fail;
            }
            Py_DECREF(s);
        }
    static const struct {
        uint32_t bit;
        const char *name;
    } CAPS[] = {{XHAL_CAP_F16_COMPUTE, "f16_compute"}, {XHAL_CAP_F64, "f64"},
                {XHAL_CAP_HOST_MEMORY, "host_memory"}, {XHAL_CAP_EVENT_TIMING, "event_timing"},
                {XHAL_CAP_PEER_COPY, "peer_copy"},     {XHAL_CAP_CUSTOM_KERNELS, "custom_kernels"},
                {XHAL_CAP_PINNED_HOST, "pinned_host"}, {XHAL_CAP_MATMUL_I8, "matmul_i8"}};
    for (size_t k = 0; k < sizeof CAPS / sizeof CAPS[0]; k++)
        if (i.caps & CAPS[k].bit) {
            PyObject *s = PyUnicode_FromString(CAPS[k].name);
            if (!s || PyList_Append(caps, s) < 0) {
                Py_XDECREF(s);
                goto fail;
            }
            Py_DECREF(s);
        }
    return Py_BuildValue("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:K,s:K,s:i,s:i,s:N,s:N,s:I}", "spec", i.spec, "backend",
                         i.backend, "name", i.name, "vendor", i.vendor, "family", i.family, "arch", i.arch,
                         "driver_version", i.driver_version, "pci_bus_id", i.pci_bus_id, "total_memory",
                         (unsigned long long)i.total_memory, "free_memory", (unsigned long long)i.free_memory,
                         "compute_units", (int)i.compute_units, "index", (int)i.index, "dtypes", dtypes, "caps", caps,
                         "caps_bits", (unsigned)i.caps);
fail:
    Py_XDECREF(dtypes);
    Py_XDECREF(caps);
    return NULL;
}

static PyObject *dev_locality(XpyDevice *self, PyObject *unused)
{
    xhal_locality l;
    xhal_status st = xhal_device_locality(self->dev, &l);
    if (st != XHAL_OK) return xpy_raise(st);
    return locality_dict(&l);
}

static PyObject *dev_relation(XpyDevice *self, PyObject *other)
{
    if (!XpyDevice_Check(other)) {
        PyErr_Format(PyExc_TypeError, "relation() takes a Device, got %R", other);
        return NULL;
    }
    xhal_link link = XHAL_LINK_UNKNOWN;
    xhal_status st = xhal_device_relation(self->dev, ((XpyDevice *)other)->dev, &link);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyUnicode_FromString(xhal_link_name(link));
}

static PyObject *dev_bind_thread(XpyDevice *self, PyObject *unused)
{
    xhal_status st = xhal_bind_thread_to_device(self->dev);
    if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *dev_get_spec(XpyDevice *self, void *closure)
{
    xhal_device_info i;
    xhal_status st = xhal_device_get_info(self->dev, &i);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyUnicode_FromString(i.spec);
}

static PyObject *dev_get_context(XpyDevice *self, void *closure)
{
    Py_INCREF(self->ctx);
    return (PyObject *)self->ctx;
}

static PyObject *dev_get_index(XpyDevice *self, void *closure) { return PyLong_FromLong(self->index); }

static PyObject *dev_get_default_stream(XpyDevice *self, void *closure)
{
    xhal_stream *s = xpy_default_stream(self);
    if (!s) return NULL;
    XpyStream *o = PyObject_New(XpyStream, &XpyStream_Type);
    if (!o) return NULL;
    Py_INCREF(self);
    o->dev = self;
    o->s = s;
    o->borrowed = 1;
    return (PyObject *)o;
}

static PyObject *dev_repr(XpyDevice *self)
{
    xhal_device_info i;
    if (xhal_device_get_info(self->dev, &i) != XHAL_OK) return PyUnicode_FromString("<xhal.Device (invalid)>");
    return PyUnicode_FromFormat("<xhal.Device %s '%s'>", i.spec, i.name);
}

static PyObject *dev_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!XpyDevice_Check(a) || !XpyDevice_Check(b) || (op != Py_EQ && op != Py_NE)) Py_RETURN_NOTIMPLEMENTED;
    int eq = ((XpyDevice *)a)->dev == ((XpyDevice *)b)->dev;
    if (op == Py_NE) eq = !eq;
    if (eq) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static Py_hash_t dev_hash(XpyDevice *self)
{
    Py_hash_t h = (Py_hash_t)((uintptr_t)self->dev >> 4);
    return h == -1 ? -2 : h;
}

static PyMethodDef dev_methods[] = {
    {"info", (PyCFunction)dev_info, METH_NOARGS,
     "info() -> dict: spec, backend, name, vendor, family, arch, driver_version, pci_bus_id, total_memory,\n"
     "free_memory (bytes, now), compute_units, index, dtypes (names), caps (names), caps_bits."},
    {"locality", (PyCFunction)dev_locality, METH_NOARGS,
     "locality() -> dict: known, whole_machine, numa_nodes, cpuset, pci_bus_id (hwloc).\n"
     "Raises UnavailableError when the context has no topology."},
    {"relation", (PyCFunction)dev_relation, METH_O,
     "relation(other: Device) -> str: the link in nvidia-smi topo -m terms (SELF, PIX, PXB, PHB, NODE, SYS, UNKNOWN)."},
    {"bind_thread", (PyCFunction)dev_bind_thread, METH_NOARGS,
     "bind_thread() -> None: bind the calling thread to the CPUs near the device."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef dev_getset[] = {
    {"spec", (getter)dev_get_spec, NULL, "'backend:index', e.g. 'opencl:0'.", NULL},
    {"context", (getter)dev_get_context, NULL, "The Context the device belongs to.", NULL},
    {"index", (getter)dev_get_index, NULL, "Index of the device in its context.", NULL},
    {"default_stream", (getter)dev_get_default_stream, NULL,
     "The device's default Stream (created on first use, shared, owned by the context). Ops and\n"
     "transfers given no stream use it. Submit to one stream from one thread at a time.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject XpyDevice_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.Device",
    .tp_basicsize = sizeof(XpyDevice),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A device of a Context (Context.device('cpu:0')). Keeps its context alive.",
    .tp_dealloc = (destructor)dev_dealloc,
    .tp_methods = dev_methods,
    .tp_getset = dev_getset,
    .tp_repr = (reprfunc)dev_repr,
    .tp_richcompare = dev_richcompare,
    .tp_hash = (hashfunc)dev_hash,
};
