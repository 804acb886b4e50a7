/* llama.c - xhal._xhal.LlamaModel: the Llama-family port (conformance/models/llama, library
 * xhal_llama) on an xhal device. Errors carry the port's message (xllama_last_error), which
 * names what the port was doing and then xhal's own message. */
#include <stdlib.h>

#include "llama.h"
#include "xpy.h"

typedef struct XpyModel {
    PyObject_HEAD XpyDevice *dev;
    xllama_model *m;
    int busy; /* a call is running with the GIL released: a model is used by one thread at a time */
} XpyModel;

static PyObject *llama_raise(xhal_status st)
{
    const char *m = xllama_last_error();
    return xpy_raise_msg(st, m && *m ? m : xhal_status_name(st));
}

static PyObject *model_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"device", "path", "compute_dtype", "max_seq", "max_batch", NULL};
    PyObject *devo, *pathobj, *dto = Py_None;
    long long max_seq = 0, max_batch = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO&|OLL:LlamaModel", kw, &devo, PyUnicode_FSConverter, &pathobj,
                                     &dto, &max_seq, &max_batch))
        return NULL;
    if (!XpyDevice_Check(devo)) {
        Py_DECREF(pathobj);
        PyErr_Format(PyExc_TypeError, "LlamaModel: device must be an xhal.Device, got %R", devo);
        return NULL;
    }
    XpyDevice *dev = (XpyDevice *)devo;
    xllama_options o;
    xllama_options_init(&o);
    if (xpy_parse_dtype(dto, XHAL_DTYPE_INVALID, &o.compute_dtype) < 0) {
        Py_DECREF(pathobj);
        return NULL;
    }
    o.max_seq = (int64_t)max_seq;
    o.max_batch = (int64_t)max_batch;
    const char *path = PyBytes_AS_STRING(pathobj);
    xllama_model *m = NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xllama_load(dev->dev, path, &o, &m);
    Py_END_ALLOW_THREADS Py_DECREF(pathobj);
    if (st != XHAL_OK) return llama_raise(st);
    XpyModel *self = (XpyModel *)type->tp_alloc(type, 0);
    if (!self) {
        xllama_destroy(m);
        return NULL;
    }
    Py_INCREF(dev);
    self->dev = dev;
    self->m = m;
    return (PyObject *)self;
}

static void model_dealloc(XpyModel *self)
{
    if (self->m) {
        Py_BEGIN_ALLOW_THREADS xllama_destroy(self->m);
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(self->dev);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int model_usable(XpyModel *self)
{
    if (!self->m) {
        PyErr_SetString(PyExc_RuntimeError, "the model was closed");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the model is in use by another thread (a model runs one call at a time)");
        return 0;
    }
    return 1;
}

static PyObject *model_close(XpyModel *self, PyObject *unused)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "close: the model is in use by another thread");
        return NULL;
    }
    if (self->m) {
        xllama_model *m = self->m;
        self->m = NULL;
        Py_BEGIN_ALLOW_THREADS xllama_destroy(m);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static int parse_tokens(PyObject *o, int32_t **out, int64_t *n)
{
    PyObject *seq = PySequence_Fast(o, "tokens must be a sequence of ints");
    if (!seq) return -1;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
    int32_t *v = malloc((size_t)(k > 0 ? k : 1) * sizeof *v);
    if (!v) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *idx = PyNumber_Index(PySequence_Fast_GET_ITEM(seq, i));
        long long x = idx ? PyLong_AsLongLong(idx) : -1;
        Py_XDECREF(idx);
        if (x == -1 && PyErr_Occurred()) {
            free(v);
            Py_DECREF(seq);
            return -1;
        }
        if (x < 0 || x > INT32_MAX) {
            free(v);
            Py_DECREF(seq);
            xpy_raise_fmt(XHAL_ERROR_OUT_OF_RANGE, "token %zd = %lld is not a token id (0 to 2^31-1)", i, x);
            return -1;
        }
        v[i] = (int32_t)x;
    }
    Py_DECREF(seq);
    *out = v;
    *n = (int64_t)k;
    return 0;
}

static PyObject *model_forward(XpyModel *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"tokens", "all_positions", NULL};
    PyObject *tokso;
    int all = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p:forward", kw, &tokso, &all)) return NULL;
    if (!model_usable(self)) return NULL;
    int32_t *toks;
    int64_t n;
    if (parse_tokens(tokso, &toks, &n) < 0) return NULL;
    const int64_t V = xllama_get_config(self->m)->vocab_size;
    const int64_t rows = all ? n : 1;
    if (n < 1) {
        free(toks);
        return xpy_raise_msg(XHAL_ERROR_INVALID_ARGUMENT, "forward: no tokens");
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(rows * V * (int64_t)sizeof(float)));
    if (!out) {
        free(toks);
        return NULL;
    }
    float *dst = (float *)PyByteArray_AS_STRING(out);
    xhal_status st;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS st = xllama_forward(self->m, toks, n, all, dst);
    Py_END_ALLOW_THREADS self->busy = 0;
    free(toks);
    if (st != XHAL_OK) {
        Py_DECREF(out);
        return llama_raise(st);
    }
    return out;
}

static PyObject *model_generate(XpyModel *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"prompt", "n", "prompt_logits", "gen_logits", NULL};
    PyObject *prompto;
    long long n_gen;
    int want_pl = 0, want_gl = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OL|pp:generate", kw, &prompto, &n_gen, &want_pl, &want_gl))
        return NULL;
    if (!model_usable(self)) return NULL;
    if (n_gen < 0 || n_gen > (1 << 24))
        return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "generate: n = %lld is not in [0, %d]", n_gen, 1 << 24);
    int32_t *prompt;
    int64_t np_;
    if (parse_tokens(prompto, &prompt, &np_) < 0) return NULL;
    const int64_t V = xllama_get_config(self->m)->vocab_size;
    int32_t *toks = malloc((size_t)(n_gen > 0 ? n_gen : 1) * sizeof *toks);
    PyObject *pl = want_pl ? PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(np_ * V * (int64_t)sizeof(float))) : NULL;
    PyObject *gl =
        want_gl ? PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n_gen * V * (int64_t)sizeof(float))) : NULL;
    if (!toks || (want_pl && !pl) || (want_gl && !gl)) {
        free(toks);
        free(prompt);
        Py_XDECREF(pl);
        Py_XDECREF(gl);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    float *plp = pl ? (float *)PyByteArray_AS_STRING(pl) : NULL;
    float *glp = gl ? (float *)PyByteArray_AS_STRING(gl) : NULL;
    xllama_timing t = {0};
    xhal_status st;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS st = xllama_generate(self->m, prompt, np_, (int64_t)n_gen, toks, plp, glp, &t);
    Py_END_ALLOW_THREADS self->busy = 0;
    free(prompt);
    if (st != XHAL_OK) {
        free(toks);
        Py_XDECREF(pl);
        Py_XDECREF(gl);
        return llama_raise(st);
    }
    PyObject *list = PyList_New((Py_ssize_t)n_gen);
    for (long long i = 0; list && i < n_gen; i++) {
        PyObject *v = PyLong_FromLong(toks[i]);
        if (!v)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    free(toks);
    if (!list) {
        Py_XDECREF(pl);
        Py_XDECREF(gl);
        return NULL;
    }
    PyObject *timing = Py_BuildValue("{s:d,s:d,s:L,s:L}", "prefill_s", t.prefill_s, "decode_s", t.decode_s, "n_prefill",
                                     (long long)t.n_prefill, "n_decode", (long long)t.n_decode);
    if (!timing) {
        Py_DECREF(list);
        Py_XDECREF(pl);
        Py_XDECREF(gl);
        return NULL;
    }
    if (!pl) {
        Py_INCREF(Py_None);
        pl = Py_None;
    }
    if (!gl) {
        Py_INCREF(Py_None);
        gl = Py_None;
    }
    return Py_BuildValue("(NNNN)", list, pl, gl, timing);
}

static PyObject *model_reset(XpyModel *self, PyObject *unused)
{
    if (!model_usable(self)) return NULL;
    xllama_reset(self->m);
    Py_RETURN_NONE;
}

static PyObject *model_get_config(XpyModel *self, void *c)
{
    if (!model_usable(self)) return NULL;
    const xllama_config *k = xllama_get_config(self->m);
    return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:d,s:d,s:O}", "hidden_size", (long long)k->hidden_size,
                         "intermediate_size", (long long)k->intermediate_size, "num_layers", (long long)k->num_layers,
                         "num_heads", (long long)k->num_heads, "num_kv_heads", (long long)k->num_kv_heads, "head_dim",
                         (long long)k->head_dim, "vocab_size", (long long)k->vocab_size, "max_position_embeddings",
                         (long long)k->max_position_embeddings, "rms_norm_eps", k->rms_norm_eps, "rope_theta",
                         k->rope_theta, "tie_word_embeddings", k->tie_word_embeddings ? Py_True : Py_False);
}

static PyObject *model_get_weight_dtype(XpyModel *self, void *c)
{
    if (!model_usable(self)) return NULL;
    return PyUnicode_FromString(xhal_dtype_name(xllama_weight_dtype(self->m)));
}

static PyObject *model_get_compute_dtype(XpyModel *self, void *c)
{
    if (!model_usable(self)) return NULL;
    return PyUnicode_FromString(xhal_dtype_name(xllama_compute_dtype(self->m)));
}

static PyObject *model_get_max_seq(XpyModel *self, void *c)
{
    if (!model_usable(self)) return NULL;
    return PyLong_FromLongLong((long long)xllama_max_seq(self->m));
}

static PyObject *model_get_position(XpyModel *self, void *c)
{
    if (!model_usable(self)) return NULL;
    return PyLong_FromLongLong((long long)xllama_position(self->m));
}

static PyObject *model_get_device(XpyModel *self, void *c)
{
    Py_INCREF(self->dev);
    return (PyObject *)self->dev;
}

static PyMethodDef model_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))model_forward, METH_VARARGS | METH_KEYWORDS,
     "forward(tokens, all_positions=False) -> bytearray: run tokens at the current position (appending\n"
     "them to the KV cache); f32 logits [n, vocab] (all_positions) or [vocab]."},
    {"generate", (PyCFunction)(void (*)(void))model_generate, METH_VARARGS | METH_KEYWORDS,
     "generate(prompt, n, prompt_logits=False, gen_logits=False) -> (list[int], bytearray|None, bytearray|None, "
     "dict)\n\n"
     "Greedy decoding from an empty cache: n token ids, the f32 logits asked for ([n_prompt, vocab],\n"
     "[n, vocab]) and the timing (prefill_s, decode_s, n_prefill, n_decode)."},
    {"reset", (PyCFunction)model_reset, METH_NOARGS, "reset() -> None: forget the KV cache."},
    {"close", (PyCFunction)model_close, METH_NOARGS, "close() -> None: free the model's device memory now."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef model_getset[] = {
    {"config", (getter)model_get_config, NULL, "The config.json settings the port uses.", NULL},
    {"weight_dtype", (getter)model_get_weight_dtype, NULL, "dtype of the weights in the file.", NULL},
    {"compute_dtype", (getter)model_get_compute_dtype, NULL, "dtype the arithmetic runs in.", NULL},
    {"max_seq", (getter)model_get_max_seq, NULL, "KV cache length in tokens.", NULL},
    {"position", (getter)model_get_position, NULL, "Tokens in the KV cache.", NULL},
    {"device", (getter)model_get_device, NULL, "The Device the model runs on.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject XpyModel_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.LlamaModel",
    .tp_basicsize = sizeof(XpyModel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "LlamaModel(device, path, compute_dtype=None, max_seq=0, max_batch=0)\n\n"
              "Load a Hugging Face Llama folder (config.json + safetensors, f32/f16/bf16) onto device.\n"
              "Use xhal.llama.load() for the Python-level model with tokenizer support.",
    .tp_new = model_new,
    .tp_dealloc = (destructor)model_dealloc,
    .tp_methods = model_methods,
    .tp_getset = model_getset,
};

int xpy_llama_init(PyObject *module)
{
    if (PyType_Ready(&XpyModel_Type) < 0) return -1;
    Py_INCREF(&XpyModel_Type);
    if (PyModule_AddObject(module, "LlamaModel", (PyObject *)&XpyModel_Type) < 0) {
        Py_DECREF(&XpyModel_Type);
        return -1;
    }
    return 0;
}
