/* Compiled kernels of rubric evaluation: the per-character, per-word, per-occurrence and
 * per-window loops that run for every call.
 *
 * Each function here has a pure-Python twin in qa_pipeline/kernels.py that defines
 * what it computes; tests check the two agree on random inputs, and the library falls back
 * to the twins when this module is not built. Results must be equal, not close: floating
 * point sums follow the builtin sum() of the running interpreter (plain addition before
 * Python 3.12, Neumaier compensation from 3.12 on), so a word probability never differs
 * between the two by an ulp that could move a verdict across a review threshold.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static PyObject *str_probability; /* interned "probability" */
static PyObject *str_words;       /* interned "words" */
static PyObject *str_text;        /* interned "text" */
static PyObject *str_role_confidence;
static PyObject *str_index, *str_role, *str_start_s, *str_end_s, *str_matched_text;
static PyObject *str_space, *str_empty; /* " " and "" */
static PyObject *str_utterance_index, *str_word_probability;

/* ---- sum() of floats, as the running interpreter's builtin does it ---------------------- */

typedef struct {
    double total;
    double compensation;
} FloatSum;

static inline void float_sum_add(FloatSum *sum, double x)
{
#if PY_VERSION_HEX >= 0x030C0000
    double t = sum->total + x;
    if (fabs(sum->total) >= fabs(x)) {
        sum->compensation += (sum->total - t) + x;
    }
    else {
        sum->compensation += (x - t) + sum->total;
    }
    sum->total = t;
#else
    sum->total += x;
#endif
}

static inline double float_sum_value(const FloatSum *sum)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (sum->compensation != 0.0 && isfinite(sum->compensation)) {
        return sum->total + sum->compensation;
    }
#endif
    return sum->total;
}

/* ---- attribute reads -------------------------------------------------------------------- */

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_AUDIT_READ READ_RESTRICTED
#endif

/* One attribute, read from many objects of one type (each word's text and probability, each
 * utterance's words...). Where that type keeps it in a slot (a dataclass with slots=True:
 * a member descriptor holding an object), the slot's offset is looked up once per type and
 * the value read from there, as the descriptor reads it (a tenth of PyObject_GetAttr's
 * cost); any other type, or an empty slot, goes through PyObject_GetAttr. */
typedef struct {
    PyObject **name;    /* the interned attribute name */
    PyTypeObject *type; /* the type last asked about (a strong reference), or NULL */
    Py_ssize_t offset;  /* where its slot lies, or -1: not a plain slot */
} Attr;

static Py_ssize_t slot_offset(PyTypeObject *tp, PyObject *name)
{
    if (tp->tp_getattro != PyObject_GenericGetAttr) {
        return -1; /* __getattribute__ or __getattr__ of its own */
    }
    /* The class attribute: a slot's member descriptor returns itself from the class. */
    PyObject *descr = PyObject_GetAttr((PyObject *)tp, name);
    if (descr == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == Py_T_OBJECT_EX && !(member->flags & Py_AUDIT_READ)) {
            offset = member->offset;
        }
    }
    Py_DECREF(descr);
    return offset;
}

/* obj.<attr> (a new reference), or NULL with an exception set. */
static PyObject *get_attr(Attr *attr, PyObject *obj)
{
#ifndef Py_GIL_DISABLED /* the cache is shared state: the GIL guards it */
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp != attr->type) {
        attr->offset = slot_offset(tp, *attr->name);
        Py_XSETREF(attr->type, (PyTypeObject *)Py_NewRef(tp));
    }
    if (attr->offset >= 0) {
        PyObject *value = *(PyObject **)((char *)obj + attr->offset);
        if (value != NULL) {
            return Py_NewRef(value);
        }
    }
#endif
    return PyObject_GetAttr(obj, *attr->name);
}

#define ATTR(NAME) {&(NAME), NULL, -1}

/* A float attribute (ints accepted, as sum() would); -1.0 with an exception set on failure. */
static int attribute_as_double(Attr *attr, PyObject *obj, double *out)
{
    PyObject *value = get_attr(attr, obj);
    if (value == NULL) {
        return -1;
    }
    *out = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* Whether a METH_FASTCALL kernel got its fixed number of arguments (TypeError if not). */
static int arguments_ok(const char *name, Py_ssize_t nargs, Py_ssize_t expected)
{
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s expected %zd arguments, got %zd", name, expected,
                     nargs);
        return 0;
    }
    return 1;
}

/* The attributes the kernels read from words, utterances and hits. */
static Attr word_text = ATTR(str_text), word_probability = ATTR(str_probability);
static Attr utterance_words = ATTR(str_words);
static Attr utterance_role_confidence = ATTR(str_role_confidence);
static Attr hit_matched_text = ATTR(str_matched_text);

/* utterance.words as a PySequence_Fast (a new reference), or NULL with an exception set
 * (message: the TypeError's when words is not a sequence). */
static PyObject *words_of(PyObject *utterance, const char *message)
{
    PyObject *attr = get_attr(&utterance_words, utterance);
    if (attr == NULL) {
        return NULL;
    }
    PyObject *words = PySequence_Fast(attr, message);
    Py_DECREF(attr);
    return words;
}

/* Adds every word's probability to sum, in order (words: a PySequence_Fast); -1 with an
 * exception set. */
static int add_probabilities(PyObject *words, FloatSum *sum)
{
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(words); i++) {
        double probability;
        if (attribute_as_double(&word_probability, PySequence_Fast_GET_ITEM(words, i),
                                &probability) < 0) {
            return -1;
        }
        float_sum_add(sum, probability);
    }
    return 0;
}

/* ---- covered_mean --------------------------------------------------------------------- */

PyDoc_STRVAR(covered_mean_doc,
"covered_mean(words, target, forms, form_of, /)\n--\n\n"
"Mean probability of the words whose compact form (non-empty) occurs in target; None when\n"
"no word does. forms caches form_of(word.text) (see kernels.py).");

/* Mean probability of the covered words into *mean: 1 when some word is covered, 0 when
 * none is, -1 with an exception set. words: a PySequence_Fast. */
static int covered_mean_of(PyObject *words, PyObject *target, PyObject *forms,
                           PyObject *form_of, double *mean)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(words);
    FloatSum sum = {0.0, 0.0};
    Py_ssize_t covered = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PySequence_Fast_GET_ITEM(words, i);
        PyObject *text = get_attr(&word_text, word);
        if (text == NULL) {
            return -1;
        }
        PyObject *form = PyDict_GetItemWithError(forms, text); /* borrowed */
        if (form != NULL) {
            Py_INCREF(form);
        }
        else if (!PyErr_Occurred()) {
            form = PyObject_CallOneArg(form_of, text);
            if (form != NULL && PyDict_SetItem(forms, text, form) < 0) {
                Py_CLEAR(form);
            }
        }
        Py_DECREF(text);
        if (form == NULL) {
            return -1;
        }
        if (!PyUnicode_Check(form)) {
            Py_DECREF(form);
            PyErr_SetString(PyExc_TypeError, "covered_mean: compact forms must be str");
            return -1;
        }
        int found = PyUnicode_GET_LENGTH(form) ? PyUnicode_Contains(target, form) : 0;
        Py_DECREF(form);
        if (found < 0) {
            return -1;
        }
        if (!found) {
            continue;
        }
        double probability;
        if (attribute_as_double(&word_probability, word, &probability) < 0) {
            return -1;
        }
        float_sum_add(&sum, probability);
        covered++;
    }
    if (covered == 0) {
        return 0;
    }
    *mean = float_sum_value(&sum) / (double)covered;
    return 1;
}

static PyObject *covered_mean(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("covered_mean", nargs, 4)) {
        return NULL;
    }
    PyObject *target = args[1], *forms = args[2], *form_of = args[3];
    if (!PyUnicode_Check(target) || !PyDict_Check(forms)) {
        PyErr_SetString(PyExc_TypeError, "covered_mean: target must be str, forms a dict");
        return NULL;
    }
    PyObject *words = PySequence_Fast(args[0], "covered_mean: words must be a sequence");
    if (words == NULL) {
        return NULL;
    }
    double mean;
    int found = covered_mean_of(words, target, forms, form_of, &mean);
    Py_DECREF(words);
    if (found < 0) {
        return NULL;
    }
    return found ? PyFloat_FromDouble(mean) : Py_NewRef(Py_None);
}

/* ---- quote ------------------------------------------------------------------------------ */

PyDoc_STRVAR(quote_doc,
"quote(cls, names, forms, form_of, utterance, hit, note, /)\n--\n\n"
"A new cls (as frozen_new) quoting utterance: its index, role, start_s, end_s, text, the\n"
"probability of the words hit covers (else the mean of all its words), role_confidence,\n"
"hit and note (see kernels.py).");

#define QUOTE_FIELDS 9

/* The word probability a quote carries (see py_quote): -1 with an exception set. */
static int quoted_probability(PyObject *utterance, PyObject *hit, PyObject *forms,
                              PyObject *form_of, double *probability)
{
    PyObject *words = words_of(utterance, "quote: words must be a sequence");
    if (words == NULL) {
        return -1;
    }
    int found = 0;
    if (hit != Py_None) {
        PyObject *matched = get_attr(&hit_matched_text, hit);
        int wanted = matched == NULL ? -1 : PyObject_IsTrue(matched);
        if (wanted > 0) {
            PyObject *target = PyUnicode_Replace(matched, str_space, str_empty, -1);
            found = target == NULL ? -1 : covered_mean_of(words, target, forms, form_of,
                                                          probability);
            Py_XDECREF(target);
        }
        else {
            found = wanted;
        }
        Py_XDECREF(matched);
    }
    if (found == 0) { /* the mean over every word, as Utterance.mean_word_probability */
        Py_ssize_t n = PySequence_Fast_GET_SIZE(words);
        FloatSum sum = {0.0, 0.0};
        found = add_probabilities(words, &sum);
        if (found == 0) {
            *probability = n ? float_sum_value(&sum) / (double)n : 1.0;
        }
    }
    Py_DECREF(words);
    return found < 0 ? -1 : 0;
}

static PyObject *quote(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("quote", nargs, 7)) {
        return NULL;
    }
    PyObject *names = args[1], *forms = args[2], *form_of = args[3], *utterance = args[4];
    if (!PyType_Check(args[0]) || !PyTuple_Check(names)
        || PyTuple_GET_SIZE(names) != QUOTE_FIELDS || !PyDict_Check(forms)) {
        PyErr_SetString(PyExc_TypeError,
                        "quote: cls must be a type, names a tuple of 9, forms a dict");
        return NULL;
    }
    /* The utterance's fields quoted, in the quote's field order (5: the probability). */
    static Attr utterance_fields[] = {ATTR(str_index), ATTR(str_role), ATTR(str_start_s),
                                      ATTR(str_end_s), ATTR(str_text), {NULL, NULL, -1},
                                      ATTR(str_role_confidence)};
    PyObject *values[QUOTE_FIELDS] = {NULL};
    PyObject *obj = NULL;
    for (int i = 0; i < 7; i++) {
        if (utterance_fields[i].name != NULL
            && (values[i] = get_attr(&utterance_fields[i], utterance)) == NULL) {
            goto done;
        }
    }
    double probability;
    if (quoted_probability(utterance, args[5], forms, form_of, &probability) < 0
        || (values[5] = PyFloat_FromDouble(probability)) == NULL) {
        goto done;
    }
    values[7] = Py_NewRef(args[5]);
    values[8] = Py_NewRef(args[6]);
    PyTypeObject *cls = (PyTypeObject *)args[0];
    obj = cls->tp_alloc(cls, 0);
    for (int i = 0; obj != NULL && i < QUOTE_FIELDS; i++) {
        if (PyObject_GenericSetAttr(obj, PyTuple_GET_ITEM(names, i), values[i]) < 0) {
            Py_CLEAR(obj);
        }
    }
done:
    for (int i = 0; i < QUOTE_FIELDS; i++) {
        Py_XDECREF(values[i]);
    }
    return obj;
}

/* ---- review policy ------------------------------------------------------------------------ */

/* max() (op Py_GT) or min() (Py_LT) as the builtins do it: value (borrowed) replaces *kept
 * (a strong reference, NULL at first) only if strictly greater (less); -1 with an exception
 * set. */
static int keep_extreme(PyObject **kept, PyObject *value, int op)
{
    int better = *kept == NULL ? 1 : PyObject_RichCompareBool(value, *kept, op);
    if (better > 0) {
        Py_XSETREF(*kept, Py_NewRef(value));
    }
    return better < 0 ? -1 : 0;
}

PyDoc_STRVAR(best_quote_doc,
"best_quote(evidence, /)\n--\n\n"
"(highest word_probability, highest role_confidence) among the evidence that quotes an\n"
"utterance (utterance_index >= 0); None when none does (see kernels.py).");

static PyObject *best_quote(PyObject *module, PyObject *arg)
{
    static Attr evidence_index = ATTR(str_utterance_index);
    static Attr evidence_probability = ATTR(str_word_probability);
    static Attr evidence_role = ATTR(str_role_confidence);
    PyObject *evidence = PySequence_Fast(arg, "best_quote: evidence must be a sequence");
    if (evidence == NULL) {
        return NULL;
    }
    PyObject *best[2] = {NULL, NULL}, *result = NULL;
    Attr *fields[2] = {&evidence_probability, &evidence_role};
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(evidence); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(evidence, i);
        PyObject *index = get_attr(&evidence_index, item);
        if (index == NULL) {
            goto done;
        }
        long position = PyLong_AsLong(index);
        Py_DECREF(index);
        if (position == -1 && PyErr_Occurred()) {
            goto done;
        }
        if (position < 0) {
            continue;
        }
        for (int k = 0; k < 2; k++) {
            PyObject *value = get_attr(fields[k], item);
            int kept = value == NULL ? -1 : keep_extreme(&best[k], value, Py_GT);
            Py_XDECREF(value);
            if (kept < 0) {
                goto done;
            }
        }
    }
    result = best[0] == NULL ? Py_NewRef(Py_None) : PyTuple_Pack(2, best[0], best[1]);
done:
    Py_DECREF(evidence);
    Py_XDECREF(best[0]);
    Py_XDECREF(best[1]);
    return result;
}

PyDoc_STRVAR(mean_confidence_doc,
"mean_confidence(considered, sums, counts, roles, /)\n--\n\n"
"(mean word probability, lowest role confidence) over the utterances considered (indices\n"
"out of range ignored), from word_stats' per-utterance lists; None when none is in range\n"
"(see kernels.py).");

static PyObject *mean_confidence(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("mean_confidence", nargs, 4)) {
        return NULL;
    }
    PyObject *considered = args[0], *sums = args[1], *counts = args[2], *roles = args[3];
    if (!PyTuple_Check(considered) || !PyList_Check(sums) || !PyList_Check(counts)
        || !PyList_Check(roles) || PyList_GET_SIZE(counts) != PyList_GET_SIZE(sums)
        || PyList_GET_SIZE(roles) != PyList_GET_SIZE(sums)) {
        PyErr_SetString(PyExc_TypeError,
                        "mean_confidence: a tuple of indices and three lists of one length");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(sums);
    FloatSum sum = {0.0, 0.0};
    long long words = 0;
    PyObject *lowest = NULL;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(considered); k++) {
        Py_ssize_t i = PyLong_AsSsize_t(PyTuple_GET_ITEM(considered, k));
        if (i == -1 && PyErr_Occurred()) {
            Py_XDECREF(lowest);
            return NULL;
        }
        if (i < 0 || i >= n) {
            continue;
        }
        long count = PyLong_AsLong(PyList_GET_ITEM(counts, i));
        double total = PyFloat_AsDouble(PyList_GET_ITEM(sums, i));
        if (((count == -1 || total == -1.0) && PyErr_Occurred())
            || keep_extreme(&lowest, PyList_GET_ITEM(roles, i), Py_LT) < 0) {
            Py_XDECREF(lowest);
            return NULL;
        }
        words += count;
        float_sum_add(&sum, total);
    }
    if (lowest == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *mean = PyFloat_FromDouble(words ? float_sum_value(&sum) / (double)words : 1.0);
    PyObject *result = mean == NULL ? NULL : PyTuple_Pack(2, mean, lowest);
    Py_XDECREF(mean);
    Py_DECREF(lowest);
    return result;
}

/* ---- word_stats ----------------------------------------------------------------------- */

PyDoc_STRVAR(word_stats_doc,
"word_stats(utterances, /)\n--\n\n"
"([sum of word probabilities], [word count], [role confidence]) per utterance; the sum of\n"
"an utterance without words is the int 0, as sum() gives.");

static PyObject *word_stats(PyObject *module, PyObject *arg)
{
    PyObject *utterances = PySequence_Fast(arg, "word_stats: utterances must be a sequence");
    if (utterances == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(utterances);
    PyObject *sums = PyList_New(n);
    PyObject *counts = PyList_New(n);
    PyObject *roles = PyList_New(n);
    PyObject *result = NULL;
    if (sums == NULL || counts == NULL || roles == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *utterance = PySequence_Fast_GET_ITEM(utterances, i);
        PyObject *words = words_of(utterance, "word_stats: words must be a sequence");
        if (words == NULL) {
            goto done;
        }
        Py_ssize_t m = PySequence_Fast_GET_SIZE(words);
        FloatSum sum = {0.0, 0.0};
        int failed = add_probabilities(words, &sum);
        Py_DECREF(words);
        if (failed) {
            goto done;
        }
        PyObject *total = m ? PyFloat_FromDouble(float_sum_value(&sum)) : PyLong_FromLong(0);
        PyObject *count = PyLong_FromSsize_t(m);
        PyObject *role = get_attr(&utterance_role_confidence, utterance);
        if (total == NULL || count == NULL || role == NULL) {
            Py_XDECREF(total);
            Py_XDECREF(count);
            Py_XDECREF(role);
            goto done;
        }
        PyList_SET_ITEM(sums, i, total);
        PyList_SET_ITEM(counts, i, count);
        PyList_SET_ITEM(roles, i, role);
    }
    result = PyTuple_Pack(3, sums, counts, roles);
done:
    Py_DECREF(utterances);
    Py_XDECREF(sums);
    Py_XDECREF(counts);
    Py_XDECREF(roles);
    return result;
}

/* ---- helpers for the scan kernels ------------------------------------------------------ */

/* A sequence of ints as a C array (caller frees); NULL with an exception on failure. */
static Py_ssize_t *ssize_array(PyObject *seq, const char *what, Py_ssize_t *length)
{
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    Py_ssize_t *out = PyMem_Malloc((n ? n : 1) * sizeof(Py_ssize_t));
    if (out == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            PyMem_Free(out);
            Py_DECREF(fast);
            return NULL;
        }
    }
    Py_DECREF(fast);
    *length = n;
    return out;
}

/* Index of the last offset <= position (bisect_right(offsets, position) - 1). */
static inline Py_ssize_t holder(const Py_ssize_t *offsets, Py_ssize_t n, Py_ssize_t position)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (position < offsets[mid]) {
            hi = mid;
        }
        else {
            lo = mid + 1;
        }
    }
    return lo - 1;
}

/* (key, start, end) of one automaton match. */
static int unpack_match(PyObject *match, Py_ssize_t *key, Py_ssize_t *start, Py_ssize_t *end)
{
    if (!PyTuple_Check(match) || PyTuple_GET_SIZE(match) != 3) {
        PyErr_SetString(PyExc_TypeError, "matches must be (key, start, end) tuples");
        return -1;
    }
    *key = PyLong_AsSsize_t(PyTuple_GET_ITEM(match, 0));
    *start = PyLong_AsSsize_t(PyTuple_GET_ITEM(match, 1));
    *end = PyLong_AsSsize_t(PyTuple_GET_ITEM(match, 2));
    return PyErr_Occurred() ? -1 : 0;
}

static int descending(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

static int ascending(const void *a, const void *b)
{
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

static inline int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ---- first_exact_hits ------------------------------------------------------------------ */

PyDoc_STRVAR(first_exact_hits_doc,
"first_exact_hits(matches, text, bounded, rank, offsets, by_rank, slots, /)\n--\n\n"
"Per slot: utterance index -> phrase of its first exact occurrence (see kernels.py).");

static PyObject *first_exact_hits(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("first_exact_hits", nargs, 7)) {
        return NULL;
    }
    PyObject *text = args[1], *bounded_seq = args[2], *by_rank = args[5];
    Py_ssize_t slots = PyLong_AsSsize_t(args[6]);
    if (slots == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyBytes_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "first_exact_hits: text must be bytes");
        return NULL;
    }
    if (!PyList_Check(by_rank) && !PyTuple_Check(by_rank)) {
        PyErr_SetString(PyExc_TypeError, "first_exact_hits: by_rank must be a list or tuple");
        return NULL;
    }
    const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(text);
    Py_ssize_t size = PyBytes_GET_SIZE(text);
    PyObject *matches = NULL, *result = NULL;
    Py_ssize_t *rank = NULL, *offsets = NULL, *bounded = NULL;
    int64_t *codes = NULL;
    Py_ssize_t n_rank, n_offsets, n_bounded;

    rank = ssize_array(args[3], "first_exact_hits: rank must be a sequence", &n_rank);
    if (rank == NULL) {
        goto done;
    }
    offsets = ssize_array(args[4], "first_exact_hits: offsets must be a sequence", &n_offsets);
    if (offsets == NULL) {
        goto done;
    }
    bounded = ssize_array(bounded_seq, "first_exact_hits: bounded must be a sequence",
                          &n_bounded);
    if (bounded == NULL) {
        goto done;
    }
    if (n_bounded != n_rank || PySequence_Size(by_rank) != n_rank) {
        PyErr_SetString(PyExc_ValueError,
                        "first_exact_hits: bounded, rank and by_rank differ in length");
        goto done;
    }
    matches = PySequence_Fast(args[0], "first_exact_hits: matches must be a sequence");
    if (matches == NULL) {
        goto done;
    }
    Py_ssize_t n_matches = PySequence_Fast_GET_SIZE(matches);
    codes = PyMem_Malloc((n_matches ? n_matches : 1) * sizeof(int64_t));
    if (codes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* One integer per valid occurrence, start * phrases + rank, as in kernels.py. */
    Py_ssize_t n_codes = 0;
    for (Py_ssize_t i = 0; i < n_matches; i++) {
        Py_ssize_t key, start, end;
        if (unpack_match(PySequence_Fast_GET_ITEM(matches, i), &key, &start, &end) < 0) {
            goto done;
        }
        if (key < 0 || key >= n_rank || start < 0 || end > size || start > end) {
            PyErr_SetString(PyExc_ValueError, "first_exact_hits: match out of range");
            goto done;
        }
        if (bounded[key] && ((start && is_word_byte(bytes[start - 1]))
                             || (end < size && is_word_byte(bytes[end])))) {
            continue;
        }
        codes[n_codes++] = (int64_t)start * n_rank + rank[key];
    }
    qsort(codes, n_codes, sizeof(int64_t), descending);
    result = PyList_New(slots);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t s = 0; s < slots; s++) {
        PyObject *d = PyDict_New();
        if (d == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, s, d);
    }
    /* The first occurrence per utterance is written last. */
    for (Py_ssize_t i = 0; i < n_codes; i++) {
        Py_ssize_t start = (Py_ssize_t)(codes[i] / n_rank), r = (Py_ssize_t)(codes[i] % n_rank);
        PyObject *entry = PySequence_Fast_GET_ITEM(by_rank, r);
        PyObject *phrase, *owners;
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2) {
            PyErr_SetString(PyExc_TypeError, "first_exact_hits: by_rank holds (phrase, slots)");
            Py_CLEAR(result);
            goto done;
        }
        phrase = PyTuple_GET_ITEM(entry, 0);
        owners = PyTuple_GET_ITEM(entry, 1);
        PyObject *index = PyLong_FromSsize_t(holder(offsets, n_offsets, start));
        if (index == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        Py_ssize_t n_owners = PyTuple_Check(owners) ? PyTuple_GET_SIZE(owners) : -1;
        if (n_owners < 0) {
            PyErr_SetString(PyExc_TypeError, "first_exact_hits: slots must be a tuple");
        }
        for (Py_ssize_t k = 0; k < n_owners; k++) {
            Py_ssize_t slot = PyLong_AsSsize_t(PyTuple_GET_ITEM(owners, k));
            if (slot < 0 || slot >= slots) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_ValueError, "first_exact_hits: slot out of range");
                }
                break;
            }
            if (PyDict_SetItem(PyList_GET_ITEM(result, slot), index, phrase) < 0) {
                break;
            }
        }
        Py_DECREF(index);
        if (PyErr_Occurred()) {
            Py_CLEAR(result);
            goto done;
        }
    }
done:
    Py_XDECREF(matches);
    PyMem_Free(rank);
    PyMem_Free(offsets);
    PyMem_Free(bounded);
    PyMem_Free(codes);
    return result;
}

/* ---- pinyin_windows -------------------------------------------------------------------- */

PyDoc_STRVAR(pinyin_windows_doc,
"pinyin_windows(matches, width, entries, lengths, offsets, ends, chinese, skips, /)\n--\n\n"
"Per bucket: sorted (utterance index, window start) of the windows worth scoring\n"
"(see kernels.py).");

typedef struct {
    Py_ssize_t *items;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Starts;

static int starts_append(Starts *starts, Py_ssize_t value)
{
    if (starts->size == starts->capacity) {
        Py_ssize_t capacity = starts->capacity ? 2 * starts->capacity : 8;
        Py_ssize_t *items = PyMem_Realloc(starts->items, capacity * sizeof(Py_ssize_t));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        starts->items = items;
        starts->capacity = capacity;
    }
    starts->items[starts->size++] = value;
    return 0;
}

static PyObject *pinyin_windows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("pinyin_windows", nargs, 8)) {
        return NULL;
    }
    Py_ssize_t width = PyLong_AsSsize_t(args[1]);
    if (width == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (width <= 0) {
        PyErr_SetString(PyExc_ValueError, "pinyin_windows: width must be positive");
        return NULL;
    }
    PyObject *matches = NULL, *entries = NULL, *chinese = NULL, *skips = NULL;
    PyObject *result = NULL;
    Py_ssize_t *lengths = NULL, *offsets = NULL, *ends = NULL;
    Starts *buckets = NULL;
    Py_ssize_t n_buckets = 0, n_offsets, n_ends;

    lengths = ssize_array(args[3], "pinyin_windows: lengths must be a sequence", &n_buckets);
    if (lengths == NULL) {
        goto done;
    }
    offsets = ssize_array(args[4], "pinyin_windows: offsets must be a sequence", &n_offsets);
    if (offsets == NULL) {
        goto done;
    }
    ends = ssize_array(args[5], "pinyin_windows: ends must be a sequence", &n_ends);
    if (ends == NULL) {
        goto done;
    }
    entries = PySequence_Fast(args[2], "pinyin_windows: entries must be a sequence");
    chinese = entries ? PySequence_Fast(args[6], "pinyin_windows: chinese must be a sequence")
                      : NULL;
    skips = chinese ? PySequence_Fast(args[7], "pinyin_windows: skips must be a sequence")
                    : NULL;
    matches = skips ? PySequence_Fast(args[0], "pinyin_windows: matches must be a sequence")
                    : NULL;
    if (matches == NULL) {
        goto done;
    }
    if (n_ends != n_offsets || PySequence_Fast_GET_SIZE(chinese) != n_offsets
        || PySequence_Fast_GET_SIZE(skips) != n_buckets) {
        PyErr_SetString(PyExc_ValueError, "pinyin_windows: argument lengths differ");
        goto done;
    }
    buckets = PyMem_Calloc(n_buckets ? n_buckets : 1, sizeof(Starts));
    if (buckets == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_keys = PySequence_Fast_GET_SIZE(entries);
    Py_ssize_t n_matches = PySequence_Fast_GET_SIZE(matches);
    for (Py_ssize_t i = 0; i < n_matches; i++) {
        Py_ssize_t key, start, end;
        if (unpack_match(PySequence_Fast_GET_ITEM(matches, i), &key, &start, &end) < 0) {
            goto done;
        }
        if (key < 0 || key >= n_keys) {
            PyErr_SetString(PyExc_ValueError, "pinyin_windows: key out of range");
            goto done;
        }
        if (start % width) {
            continue; /* straddles two syllable ids */
        }
        Py_ssize_t last = end / width - 1;
        PyObject *pairs = PySequence_Fast_GET_ITEM(entries, key);
        if (!PyTuple_Check(pairs)) {
            PyErr_SetString(PyExc_TypeError, "pinyin_windows: entries hold tuples");
            goto done;
        }
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(pairs); k++) {
            PyObject *pair = PyTuple_GET_ITEM(pairs, k);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                PyErr_SetString(PyExc_TypeError, "pinyin_windows: entries hold (bucket, back)");
                goto done;
            }
            Py_ssize_t bucket = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
            Py_ssize_t back = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 1));
            if (PyErr_Occurred()) {
                goto done;
            }
            if (bucket < 0 || bucket >= n_buckets) {
                PyErr_SetString(PyExc_ValueError, "pinyin_windows: bucket out of range");
                goto done;
            }
            if (starts_append(&buckets[bucket], last - back) < 0) {
                goto done;
            }
        }
    }
    result = PyList_New(n_buckets);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t b = 0; b < n_buckets; b++) {
        PyObject *found = PyList_New(0);
        if (found == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, b, found);
        Starts *starts = &buckets[b];
        if (starts->size == 0) {
            continue;
        }
        qsort(starts->items, starts->size, sizeof(Py_ssize_t), ascending);
        PyObject *skip = PySequence_Fast_GET_ITEM(skips, b);
        for (Py_ssize_t k = 0; k < starts->size; k++) {
            Py_ssize_t start = starts->items[k];
            if (k && start == starts->items[k - 1]) {
                continue;
            }
            /* i < 0: a long phrase's second piece found where the first cannot fit */
            Py_ssize_t i = holder(offsets, n_offsets, start);
            if (i < 0 || start + lengths[b] > ends[i]) {
                continue;
            }
            int is_chinese = PyObject_IsTrue(PySequence_Fast_GET_ITEM(chinese, i));
            if (is_chinese < 0) {
                Py_CLEAR(result);
                goto done;
            }
            if (!is_chinese) {
                continue;
            }
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL) {
                Py_CLEAR(result);
                goto done;
            }
            int skipped = PySequence_Contains(skip, index);
            PyObject *window = skipped ? NULL : Py_BuildValue("(Nn)", index, start);
            if (skipped) {
                Py_DECREF(index);
            }
            if (skipped < 0 || (!skipped && (window == NULL
                                             || PyList_Append(found, window) < 0))) {
                Py_XDECREF(window);
                Py_CLEAR(result);
                goto done;
            }
            Py_XDECREF(window);
        }
    }
done:
    if (buckets != NULL) {
        for (Py_ssize_t b = 0; b < n_buckets; b++) {
            PyMem_Free(buckets[b].items);
        }
        PyMem_Free(buckets);
    }
    Py_XDECREF(matches);
    Py_XDECREF(entries);
    Py_XDECREF(chinese);
    Py_XDECREF(skips);
    PyMem_Free(lengths);
    PyMem_Free(offsets);
    PyMem_Free(ends);
    return result;
}

/* ---- reachable ------------------------------------------------------------------------ */

PyDoc_STRVAR(reachable_doc,
"reachable(phrase, texts, bound, min_length, /)\n--\n\n"
"Positions of the texts at least min_length long in which a window that fuzz.partial_ratio\n"
"aligns phrase with may score bound (percent): an upper bound from the characters the two\n"
"share (see kernels.py).");

#define MAY_REACH_MAX 64 /* longer phrases (and texts no longer than the phrase): reachable */

typedef struct {
    Py_ssize_t m;                /* phrase length */
    int slots;                   /* distinct phrase characters */
    Py_UCS4 chars[MAY_REACH_MAX];
    int wanted[MAY_REACH_MAX];   /* how often the phrase holds each */
    signed char low[256];        /* slot of a character below 256, -1: not in the phrase */
    Py_ssize_t need[MAY_REACH_MAX + 1]; /* shared characters a window of length i needs */
    int wanted_low[256];         /* by character code below 256: how often the phrase holds it */
    unsigned char held_low[256]; /* by character code below 256: whether the phrase holds it */
} Bag;

static inline int bag_slot(const Bag *bag, Py_UCS4 c)
{
    if (c < 256) {
        return bag->low[c];
    }
    for (int k = 0; k < bag->slots; k++) {
        if (bag->chars[k] == c) {
            return k;
        }
    }
    return -1;
}

/* Whether some window of text (of one str kind, longer than the phrase) may reach the
 * bound: one pass over prefixes, suffixes, then every full window. */
#define MAY_REACH_SCAN(CHAR)                                                               \
    static int may_reach_##CHAR(const Bag *bag, const CHAR *t, Py_ssize_t n)              \
    {                                                                                      \
        Py_ssize_t m = bag->m, shared = 0;                                                 \
        int have[MAY_REACH_MAX];                                                           \
        memset(have, 0, sizeof(have));                                                     \
        for (Py_ssize_t i = 1; i < m; i++) {                                               \
            int k = bag_slot(bag, t[i - 1]);                                               \
            if (k >= 0 && have[k]++ < bag->wanted[k] && ++shared >= bag->need[i]) {       \
                return 1;                                                                  \
            }                                                                              \
        }                                                                                  \
        memset(have, 0, sizeof(have));                                                     \
        shared = 0;                                                                        \
        for (Py_ssize_t i = 1; i < m; i++) {                                               \
            int k = bag_slot(bag, t[n - i]);                                               \
            if (k >= 0 && have[k]++ < bag->wanted[k] && ++shared >= bag->need[i]) {       \
                return 1;                                                                  \
            }                                                                              \
        }                                                                                  \
        memset(have, 0, sizeof(have));                                                     \
        shared = 0;                                                                        \
        Py_ssize_t full = bag->need[m];                                                    \
        for (Py_ssize_t i = 0; i < n; i++) {                                               \
            int k = bag_slot(bag, t[i]);                                                   \
            if (k >= 0 && have[k]++ < bag->wanted[k]) {                                    \
                shared++;                                                                  \
            }                                                                              \
            if (i >= m) {                                                                  \
                k = bag_slot(bag, t[i - m]);                                               \
                if (k >= 0 && --have[k] < bag->wanted[k]) {                                \
                    shared--;                                                              \
                }                                                                          \
            }                                                                              \
            if (shared >= full && i >= m - 1) {                                            \
                return 1;                                                                  \
            }                                                                              \
        }                                                                                  \
        return 0;                                                                          \
    }

MAY_REACH_SCAN(Py_UCS2)
MAY_REACH_SCAN(Py_UCS4)

/* The same for one-byte text (English), by character code: no slot lookup, no branch.
 * ``have`` is all zero on entry and is left so (only the entries touched are reset: a call
 * holds dozens of short utterances). */
static int may_reach_Py_UCS1(const Bag *bag, int *have, const Py_UCS1 *t, Py_ssize_t n)
{
    const int *wanted = bag->wanted_low;
    Py_ssize_t m = bag->m, shared = 0, i;
    int found = 0;
    /* First the same passes counting every character the phrase holds at all (a set, not a
     * multiset: at least the shared count, so a text this rules out is out): half the work
     * per character, and it rules out most texts. */
    const unsigned char *held = bag->held_low;
    for (i = 0; i < m - 1 && !found; i++) { /* prefixes: lengths 1 .. m - 1 */
        shared += held[t[i]];
        found = shared >= bag->need[i + 1];
    }
    if (!found) { /* then every full window, then the suffixes it shrinks to at the end */
        Py_ssize_t full = bag->need[m];
        shared += held[t[m - 1]];
        found = shared >= full;
        for (i = m; i < n && !found; i++) {
            shared += held[t[i]] - held[t[i - m]];
            found = shared >= full;
        }
        for (Py_ssize_t k = 1; k < m && !found; k++) { /* the last window less k in front */
            shared -= held[t[n - m + k - 1]];
            found = shared >= bag->need[m - k];
        }
    }
    if (!found) {
        return 0;
    }
    found = 0;
    shared = 0;
    for (i = 1; i < m && !found; i++) {
        shared += have[t[i - 1]]++ < wanted[t[i - 1]];
        found = shared >= bag->need[i];
    }
    for (Py_ssize_t j = 0; j < i - 1; j++) {
        have[t[j]] = 0;
    }
    if (found) {
        return 1;
    }
    shared = 0;
    for (i = 1; i < m && !found; i++) {
        shared += have[t[n - i]]++ < wanted[t[n - i]];
        found = shared >= bag->need[i];
    }
    for (Py_ssize_t j = 1; j < i; j++) {
        have[t[n - j]] = 0;
    }
    if (found) {
        return 1;
    }
    shared = 0;
    Py_ssize_t full = bag->need[m];
    for (i = 0; i < m; i++) {
        shared += have[t[i]]++ < wanted[t[i]];
    }
    found = shared >= full;
    for (i = m; i < n && !found; i++) {
        Py_UCS1 in = t[i], out = t[i - m];
        shared += have[in]++ < wanted[in];
        shared -= --have[out] < wanted[out];
        found = shared >= full;
    }
    for (Py_ssize_t j = i - m; j < i; j++) { /* the last window counted */
        have[t[j]] = 0;
    }
    return found;
}

/* Fills bag for phrase and bound; 0 when every text longer than the phrase must be scanned,
 * 1 when every text is reachable (empty or over-long phrase, or a bound any window reaches). */
static int bag_fill(Bag *bag, PyObject *phrase, double bound)
{
    Py_ssize_t m = PyUnicode_GET_LENGTH(phrase);
    if (m == 0 || m > MAY_REACH_MAX) {
        return 1;
    }
    bag->m = m;
    bag->slots = 0;
    memset(bag->low, -1, sizeof(bag->low));
    memset(bag->wanted_low, 0, sizeof(bag->wanted_low));
    memset(bag->held_low, 0, sizeof(bag->held_low));
    int pkind = PyUnicode_KIND(phrase);
    const void *pdata = PyUnicode_DATA(phrase);
    for (Py_ssize_t i = 0; i < m; i++) {
        Py_UCS4 c = PyUnicode_READ(pkind, pdata, i);
        int k = bag_slot(bag, c);
        if (k < 0) {
            k = bag->slots++;
            bag->chars[k] = c;
            bag->wanted[k] = 0;
            if (c < 256) {
                bag->low[c] = (signed char)k;
            }
        }
        bag->wanted[k]++;
        if (c < 256) {
            bag->wanted_low[c]++;
            bag->held_low[c] = 1;
        }
    }
    /* need[i]: the fewest shared characters with which a window of length i (< m: a prefix
     * or suffix; m: a full window) scores 200 * shared / (m + i) >= bound - 1e-9 (m + 1:
     * none can). Computed with the same expression as the twin in kernels.py. */
    double reach = bound - 1e-9;
    for (Py_ssize_t i = 1; i <= m; i++) {
        /* From an estimate just below the answer (the test grows with s). */
        double estimate = floor(reach * (double)(m + i) / 200.0) - 1.0;
        Py_ssize_t s = estimate > 0.0 ? (estimate < (double)i ? (Py_ssize_t)estimate : i) : 0;
        while (s > 0 && 200.0 * (double)(s - 1) / (double)(m + i) >= reach) {
            s--;
        }
        while (s <= i && !(200.0 * (double)s / (double)(m + i) >= reach)) {
            s++;
        }
        bag->need[i] = s > i ? m + 1 : s;
    }
    return bag->need[m] == 0;
}

static PyObject *reachable(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("reachable", nargs, 4)) {
        return NULL;
    }
    PyObject *phrase = args[0], *texts = args[1];
    if (!PyUnicode_Check(phrase) || !PyList_Check(texts)) {
        PyErr_SetString(PyExc_TypeError, "reachable: phrase must be str and texts a list");
        return NULL;
    }
    double bound = PyFloat_AsDouble(args[2]);
    if (bound == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t min_length = PyLong_AsSsize_t(args[3]);
    if (min_length == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Bag bag;
    int every = bag_fill(&bag, phrase, bound);
    Py_ssize_t m = PyUnicode_GET_LENGTH(phrase);
    int have[256];
    memset(have, 0, sizeof(have));
    PyObject *found = PyList_New(0);
    if (found == NULL) {
        return NULL;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(texts); k++) {
        PyObject *text = PyList_GET_ITEM(texts, k);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "reachable: texts must hold str");
            Py_DECREF(found);
            return NULL;
        }
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        if (n < min_length) {
            continue;
        }
        int reach = 1;
        if (!every && n > m) {
            switch (PyUnicode_KIND(text)) {
            case PyUnicode_1BYTE_KIND:
                reach = may_reach_Py_UCS1(&bag, have, PyUnicode_1BYTE_DATA(text), n);
                break;
            case PyUnicode_2BYTE_KIND:
                reach = may_reach_Py_UCS2(&bag, PyUnicode_2BYTE_DATA(text), n);
                break;
            default:
                reach = may_reach_Py_UCS4(&bag, PyUnicode_4BYTE_DATA(text), n);
                break;
            }
        }
        if (reach) {
            PyObject *position = PyLong_FromSsize_t(k);
            if (position == NULL || PyList_Append(found, position) < 0) {
                Py_XDECREF(position);
                Py_DECREF(found);
                return NULL;
            }
            Py_DECREF(position);
        }
    }
    return found;
}

/* ---- code point tables (qa_pipeline.text.CodePointTable) -------------------------------- */

/* A code point table: one entry of itemsize bytes (1: flags, 4: syllable ids) per code point,
 * 0 = not looked at yet. */
static int table_view(PyObject *table, Py_buffer *view, Py_ssize_t itemsize)
{
    if (PyObject_GetBuffer(table, view, PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    if (view->itemsize != itemsize || view->len < 0x110000 * itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "table must be 0x110000 %s entries (one per code point)",
                     itemsize == 1 ? "one-byte" : "four-byte");
        return -1;
    }
    return 0;
}

/* ---- code_bytes ------------------------------------------------------------------------- */

PyDoc_STRVAR(code_bytes_doc,
"code_bytes(text, table, width, /)\n--\n\n"
"The table's value for each character of text, as little-endian integers of width bytes\n"
"(2 or 4); None when a character's entry is 0 (see kernels.py).");

static PyObject *code_bytes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("code_bytes", nargs, 3)) {
        return NULL;
    }
    PyObject *text = args[0];
    long width = PyLong_AsLong(args[2]);
    if (width == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyUnicode_Check(text) || (width != 2 && width != 4)) {
        PyErr_SetString(PyExc_TypeError, "code_bytes: text must be str, width 2 or 4");
        return NULL;
    }
    Py_buffer view;
    if (table_view(args[1], &view, 4) < 0) {
        return NULL;
    }
    const uint32_t *table = view.buf;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *result = PyBytes_FromStringAndSize(NULL, n * width);
    if (result == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t value = table[PyUnicode_READ(kind, data, i)];
        if (value == 0) {
            Py_SETREF(result, Py_NewRef(Py_None));
            break;
        }
        if (width == 2 && value > 0xFFFF) {
            Py_SETREF(result, NULL);
            PyErr_SetString(PyExc_ValueError, "code_bytes: a value does not fit in 2 bytes");
            break;
        }
        for (long b = 0; b < width; b++) { /* little-endian, whatever the machine's order */
            out[i * width + b] = (unsigned char)(value >> (8 * b));
        }
    }
    PyBuffer_Release(&view);
    return result;
}

/* ---- squeeze_words ---------------------------------------------------------------------- */

PyDoc_STRVAR(squeeze_words_doc,
"squeeze_words(text, separator, vocabulary, /)\n--\n\n"
"([' '.join(part.split()) for part in text.split(separator)], whether a word of\n"
"text.split() is in vocabulary), for ASCII text (see kernels.py).");

/* What str.split() splits ASCII text at. */
static inline int ascii_space(Py_UCS1 c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Whether a whitespace-separated word of t is one of the ASCII words of vocabulary (a tuple
 * of str); a word is compared only when its first character and length can match. */
static int holds_word(const Py_UCS1 *t, Py_ssize_t n, PyObject *vocabulary)
{
    /* By first character: a bit per length (below 64) of the vocabulary's words. */
    uint64_t lengths[256] = {0};
    for (Py_ssize_t v = 0; v < PyTuple_GET_SIZE(vocabulary); v++) {
        PyObject *word = PyTuple_GET_ITEM(vocabulary, v);
        Py_ssize_t len = PyUnicode_GET_LENGTH(word);
        /* Only an ASCII word can equal an ASCII one; longer ones are compared always. */
        if (PyUnicode_IS_ASCII(word) && len > 0) {
            lengths[PyUnicode_1BYTE_DATA(word)[0]] |= len < 64 ? (uint64_t)1 << len : ~(uint64_t)0;
        }
    }
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && ascii_space(t[i])) {
            i++;
        }
        Py_ssize_t start = i;
        while (i < n && !ascii_space(t[i])) {
            i++;
        }
        Py_ssize_t len = i - start;
        if (len == 0 || !((lengths[t[start]] >> (len < 64 ? len : 63)) & 1)) {
            continue;
        }
        for (Py_ssize_t v = 0; v < PyTuple_GET_SIZE(vocabulary); v++) {
            PyObject *word = PyTuple_GET_ITEM(vocabulary, v);
            if (PyUnicode_IS_ASCII(word) && PyUnicode_GET_LENGTH(word) == len
                && memcmp(PyUnicode_1BYTE_DATA(word), t + start, (size_t)len) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

static PyObject *squeeze_words(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("squeeze_words", nargs, 3)) {
        return NULL;
    }
    PyObject *text = args[0], *separator = args[1], *vocabulary = args[2];
    if (!PyUnicode_Check(text) || !PyUnicode_Check(separator)
        || PyUnicode_GET_LENGTH(separator) != 1 || !PyTuple_Check(vocabulary)) {
        PyErr_SetString(PyExc_TypeError,
                        "squeeze_words: text and a one-character separator (str), a tuple");
        return NULL;
    }
    for (Py_ssize_t v = 0; v < PyTuple_GET_SIZE(vocabulary); v++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(vocabulary, v))) {
            PyErr_SetString(PyExc_TypeError, "squeeze_words: the vocabulary holds str");
            return NULL;
        }
    }
    if (!PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "squeeze_words: ASCII text only");
        return NULL;
    }
    const Py_UCS1 *t = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_UCS4 sep = PyUnicode_READ_CHAR(separator, 0);
    Py_UCS1 *buffer = PyMem_Malloc((size_t)n + 1);
    PyObject *parts = PyList_New(0);
    if (buffer == NULL || parts == NULL) {
        PyMem_Free(buffer);
        Py_XDECREF(parts);
        return PyErr_NoMemory();
    }
    /* Each part: its words joined by one space (leading and trailing space dropped). */
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t length = 0;
        int space = 0;
        for (; i < n && t[i] != sep; i++) {
            if (ascii_space(t[i])) {
                space = length > 0;
            }
            else {
                if (space) {
                    buffer[length++] = ' ';
                    space = 0;
                }
                buffer[length++] = t[i];
            }
        }
        PyObject *part = PyUnicode_New(length, 127);
        if (part != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(part), buffer, (size_t)length);
        }
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            Py_DECREF(parts);
            PyMem_Free(buffer);
            return NULL;
        }
        Py_DECREF(part);
        if (i >= n) {
            break;
        }
        i++; /* past the separator */
    }
    PyMem_Free(buffer);
    PyObject *result = Py_BuildValue("(NO)", parts, holds_word(t, n, vocabulary) ? Py_True
                                                                                  : Py_False);
    return result;
}

/* ---- frozen_new -------------------------------------------------------------------------- */

PyDoc_STRVAR(frozen_new_doc,
"frozen_new(cls, names, *values, /)\n--\n\n"
"A new cls with each field of names set to its value, as object.__new__ and\n"
"object.__setattr__ would (no __init__ runs; see kernels.py).");

static PyObject *frozen_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2 || !PyType_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "frozen_new(cls, names: tuple, *values)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    PyObject *names = args[1];
    if (PyTuple_GET_SIZE(names) != nargs - 2) {
        PyErr_Format(PyExc_ValueError, "frozen_new: %zd names but %zd values",
                     PyTuple_GET_SIZE(names), nargs - 2);
        return NULL;
    }
    PyObject *obj = cls->tp_alloc(cls, 0);
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs - 2; i++) {
        if (PyObject_GenericSetAttr(obj, PyTuple_GET_ITEM(names, i), args[i + 2]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

/* ---- per-character flags (qa_pipeline.text) --------------------------------------------- */


PyDoc_STRVAR(scan_flags_doc,
"scan_flags(text, table, separator, part_flag, position_flag, /)\n--\n\n"
"(union of the flags of text's characters, per separator-delimited part whether one of its\n"
"characters has part_flag, positions of the characters with position_flag); None when a\n"
"character's table entry is 0 (see kernels.py).");

static PyObject *scan_flags(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("scan_flags", nargs, 5)) {
        return NULL;
    }
    PyObject *text = args[0], *separator = args[2];
    if (!PyUnicode_Check(text) || !PyUnicode_Check(separator)
        || PyUnicode_GET_LENGTH(separator) != 1) {
        PyErr_SetString(PyExc_TypeError,
                        "scan_flags: text must be str and separator one character");
        return NULL;
    }
    long part_flag = PyLong_AsLong(args[3]);
    long position_flag = PyLong_AsLong(args[4]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (table_view(args[1], &view, 1) < 0) {
        return NULL;
    }
    const unsigned char *flags = view.buf;
    Py_UCS4 sep = PyUnicode_READ_CHAR(separator, 0);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *parts = PyList_New(0), *positions = PyList_New(0), *result = NULL;
    if (parts == NULL || positions == NULL) {
        goto done;
    }
    unsigned int all = 0;
    int in_part = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 cp = PyUnicode_READ(kind, data, i);
        unsigned int value = flags[cp];
        if (value == 0) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        all |= value;
        if (cp == sep) {
            if (PyList_Append(parts, in_part ? Py_True : Py_False) < 0) {
                goto done;
            }
            in_part = 0;
        }
        else if (value & part_flag) {
            in_part = 1;
        }
        if (value & position_flag) {
            PyObject *position = PyLong_FromSsize_t(i);
            if (position == NULL || PyList_Append(positions, position) < 0) {
                Py_XDECREF(position);
                goto done;
            }
            Py_DECREF(position);
        }
    }
    if (PyList_Append(parts, in_part ? Py_True : Py_False) < 0) {
        goto done;
    }
    result = Py_BuildValue("(IOO)", all, parts, positions);
done:
    PyBuffer_Release(&view);
    Py_XDECREF(parts);
    Py_XDECREF(positions);
    return result;
}

PyDoc_STRVAR(drop_flagged_doc,
"drop_flagged(text, table, flag, /)\n--\n\n"
"text without the characters whose table entry has flag; None when a character's entry\n"
"is 0 (see kernels.py).");

static PyObject *drop_flagged(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("drop_flagged", nargs, 3)) {
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "drop_flagged: text must be str");
        return NULL;
    }
    long flag = PyLong_AsLong(args[2]);
    if (flag == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (table_view(args[1], &view, 1) < 0) {
        return NULL;
    }
    const unsigned char *flags = view.buf;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *result = NULL;
    void *kept = PyMem_Malloc((n ? n : 1) * kind);
    if (kept == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 cp = PyUnicode_READ(kind, data, i);
        unsigned int value = flags[cp];
        if (value == 0) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        if (!(value & flag)) {
            PyUnicode_WRITE(kind, kept, k, cp);
            k++;
        }
    }
    /* Narrowed to the kind its characters need, as every str must be. */
    result = PyUnicode_FromKindAndData(kind, kept, k);
done:
    PyMem_Free(kept);
    PyBuffer_Release(&view);
    return result;
}

/* ---- module ---------------------------------------------------------------------------- */

static PyMethodDef kernel_methods[] = {
    {"covered_mean", (PyCFunction)(void (*)(void))covered_mean, METH_FASTCALL,
     covered_mean_doc},
    {"word_stats", word_stats, METH_O, word_stats_doc},
    {"first_exact_hits", (PyCFunction)(void (*)(void))first_exact_hits, METH_FASTCALL,
     first_exact_hits_doc},
    {"pinyin_windows", (PyCFunction)(void (*)(void))pinyin_windows, METH_FASTCALL,
     pinyin_windows_doc},
    {"reachable", (PyCFunction)(void (*)(void))reachable, METH_FASTCALL, reachable_doc},
    {"frozen_new", (PyCFunction)(void (*)(void))frozen_new, METH_FASTCALL, frozen_new_doc},
    {"quote", (PyCFunction)(void (*)(void))quote, METH_FASTCALL, quote_doc},
    {"code_bytes", (PyCFunction)(void (*)(void))code_bytes, METH_FASTCALL, code_bytes_doc},
    {"squeeze_words", (PyCFunction)(void (*)(void))squeeze_words, METH_FASTCALL,
     squeeze_words_doc},
    {"best_quote", best_quote, METH_O, best_quote_doc},
    {"mean_confidence", (PyCFunction)(void (*)(void))mean_confidence, METH_FASTCALL,
     mean_confidence_doc},
    {"scan_flags", (PyCFunction)(void (*)(void))scan_flags, METH_FASTCALL, scan_flags_doc},
    {"drop_flagged", (PyCFunction)(void (*)(void))drop_flagged, METH_FASTCALL,
     drop_flagged_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT,
    "qa_pipeline._kernels",
    "Compiled kernels of rubric evaluation (pure-Python twins: qa_pipeline.kernels).",
    -1,
    kernel_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    str_probability = PyUnicode_InternFromString("probability");
    str_words = PyUnicode_InternFromString("words");
    str_text = PyUnicode_InternFromString("text");
    str_role_confidence = PyUnicode_InternFromString("role_confidence");
    str_index = PyUnicode_InternFromString("index");
    str_role = PyUnicode_InternFromString("role");
    str_start_s = PyUnicode_InternFromString("start_s");
    str_end_s = PyUnicode_InternFromString("end_s");
    str_matched_text = PyUnicode_InternFromString("matched_text");
    str_space = PyUnicode_InternFromString(" ");
    str_utterance_index = PyUnicode_InternFromString("utterance_index");
    str_word_probability = PyUnicode_InternFromString("word_probability");
    str_empty = PyUnicode_InternFromString("");
    if (str_probability == NULL || str_words == NULL || str_text == NULL
        || str_role_confidence == NULL || str_index == NULL || str_role == NULL
        || str_start_s == NULL || str_end_s == NULL || str_matched_text == NULL
        || str_space == NULL || str_empty == NULL || str_utterance_index == NULL
        || str_word_probability == NULL) {
        return NULL;
    }
    return PyModule_Create(&kernel_module);
}
