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

/* A float attribute (ints accepted, as sum() would); -1.0 with an exception set on failure. */
static int attribute_as_double(PyObject *obj, PyObject *name, double *out)
{
    PyObject *value = PyObject_GetAttr(obj, name);
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

/* ---- covered_mean --------------------------------------------------------------------- */

PyDoc_STRVAR(covered_mean_doc,
"covered_mean(words, target, forms, form_of, /)\n--\n\n"
"Mean probability of the words whose compact form (non-empty) occurs in target; None when\n"
"no word does. forms caches form_of(word.text) (see kernels.py).");

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
    PyObject *result = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(words);
    FloatSum sum = {0.0, 0.0};
    Py_ssize_t covered = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PySequence_Fast_GET_ITEM(words, i);
        PyObject *text = PyObject_GetAttr(word, str_text);
        if (text == NULL) {
            goto done;
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
            goto done;
        }
        if (!PyUnicode_Check(form)) {
            Py_DECREF(form);
            PyErr_SetString(PyExc_TypeError, "covered_mean: compact forms must be str");
            goto done;
        }
        int found = PyUnicode_GET_LENGTH(form) ? PyUnicode_Contains(target, form) : 0;
        Py_DECREF(form);
        if (found < 0) {
            goto done;
        }
        if (!found) {
            continue;
        }
        double probability;
        if (attribute_as_double(word, str_probability, &probability) < 0) {
            goto done;
        }
        float_sum_add(&sum, probability);
        covered++;
    }
    if (covered == 0) {
        result = Py_NewRef(Py_None);
    }
    else {
        result = PyFloat_FromDouble(float_sum_value(&sum) / (double)covered);
    }
done:
    Py_DECREF(words);
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
        PyObject *attr = PyObject_GetAttr(utterance, str_words);
        if (attr == NULL) {
            goto done;
        }
        PyObject *words = PySequence_Fast(attr, "word_stats: words must be a sequence");
        Py_DECREF(attr);
        if (words == NULL) {
            goto done;
        }
        Py_ssize_t m = PySequence_Fast_GET_SIZE(words);
        FloatSum sum = {0.0, 0.0};
        for (Py_ssize_t k = 0; k < m; k++) {
            double probability;
            if (attribute_as_double(PySequence_Fast_GET_ITEM(words, k), str_probability,
                                    &probability) < 0) {
                Py_DECREF(words);
                goto done;
            }
            float_sum_add(&sum, probability);
        }
        Py_DECREF(words);
        PyObject *total = m ? PyFloat_FromDouble(float_sum_value(&sum)) : PyLong_FromLong(0);
        PyObject *count = PyLong_FromSsize_t(m);
        PyObject *role = PyObject_GetAttr(utterance, str_role_confidence);
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

/* ---- may_reach ----------------------------------------------------------------------- */

PyDoc_STRVAR(may_reach_doc,
"may_reach(phrase, text, bound, /)\n--\n\n"
"False when no window that fuzz.partial_ratio aligns phrase with in text can score bound\n"
"(percent): an upper bound from the characters the two share (see kernels.py).");

#define MAY_REACH_MAX 64 /* longer phrases (and texts no longer than the phrase): True */

typedef struct {
    Py_ssize_t m;                /* phrase length */
    int slots;                   /* distinct phrase characters */
    Py_UCS4 chars[MAY_REACH_MAX];
    int wanted[MAY_REACH_MAX];   /* how often the phrase holds each */
    signed char low[256];        /* slot of a character below 256, -1: not in the phrase */
    Py_ssize_t need[MAY_REACH_MAX + 1]; /* shared characters a window of length i needs */
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

/* One pass over text (of one str kind): prefixes, suffixes, then every full window. */
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

/* The same for one-byte text (English), by character code: no slot lookup, no branch. */
static int may_reach_Py_UCS1(const Bag *bag, const Py_UCS1 *t, Py_ssize_t n)
{
    Py_ssize_t m = bag->m, shared = 0;
    int wanted[256], have[256];
    memset(wanted, 0, sizeof(wanted));
    for (int c = 0; c < 256; c++) {
        if (bag->low[c] >= 0) {
            wanted[c] = bag->wanted[(int)bag->low[c]];
        }
    }
    memset(have, 0, sizeof(have));
    for (Py_ssize_t i = 1; i < m; i++) {
        shared += have[t[i - 1]]++ < wanted[t[i - 1]];
        if (shared >= bag->need[i]) {
            return 1;
        }
    }
    memset(have, 0, sizeof(have));
    shared = 0;
    for (Py_ssize_t i = 1; i < m; i++) {
        shared += have[t[n - i]]++ < wanted[t[n - i]];
        if (shared >= bag->need[i]) {
            return 1;
        }
    }
    memset(have, 0, sizeof(have));
    shared = 0;
    Py_ssize_t full = bag->need[m];
    for (Py_ssize_t i = 0; i < m; i++) {
        shared += have[t[i]]++ < wanted[t[i]];
    }
    if (shared >= full) {
        return 1;
    }
    for (Py_ssize_t i = m; i < n; i++) {
        Py_UCS1 in = t[i], out = t[i - m];
        shared += have[in]++ < wanted[in];
        shared -= --have[out] < wanted[out];
        if (shared >= full) {
            return 1;
        }
    }
    return 0;
}

static PyObject *may_reach(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!arguments_ok("may_reach", nargs, 3)) {
        return NULL;
    }
    PyObject *phrase = args[0], *text = args[1];
    if (!PyUnicode_Check(phrase) || !PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "may_reach: phrase and text must be str");
        return NULL;
    }
    double bound = PyFloat_AsDouble(args[2]);
    if (bound == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t m = PyUnicode_GET_LENGTH(phrase), n = PyUnicode_GET_LENGTH(text);
    if (m == 0 || m > MAY_REACH_MAX || n <= m) {
        Py_RETURN_TRUE;
    }
    Bag bag;
    bag.m = m;
    bag.slots = 0;
    memset(bag.low, -1, sizeof(bag.low));
    int pkind = PyUnicode_KIND(phrase);
    const void *pdata = PyUnicode_DATA(phrase);
    for (Py_ssize_t i = 0; i < m; i++) {
        Py_UCS4 c = PyUnicode_READ(pkind, pdata, i);
        int k = bag_slot(&bag, c);
        if (k < 0) {
            k = bag.slots++;
            bag.chars[k] = c;
            bag.wanted[k] = 0;
            if (c < 256) {
                bag.low[c] = (signed char)k;
            }
        }
        bag.wanted[k]++;
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
        bag.need[i] = s > i ? m + 1 : s;
    }
    if (bag.need[m] == 0) {
        Py_RETURN_TRUE; /* any window reaches a bound of 0 */
    }
    int found;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        found = may_reach_Py_UCS1(&bag, PyUnicode_1BYTE_DATA(text), n);
        break;
    case PyUnicode_2BYTE_KIND:
        found = may_reach_Py_UCS2(&bag, PyUnicode_2BYTE_DATA(text), n);
        break;
    default:
        found = may_reach_Py_UCS4(&bag, PyUnicode_4BYTE_DATA(text), n);
        break;
    }
    return PyBool_FromLong(found);
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

/* The code point table (one uint8 of flags per code point, 0 = not looked at yet). */
static int table_view(PyObject *table, Py_buffer *view)
{
    if (PyObject_GetBuffer(table, view, PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    if (view->itemsize != 1 || view->len < 0x110000) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError,
                        "table must be 0x110000 one-byte entries (one per code point)");
        return -1;
    }
    return 0;
}

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
    if (table_view(args[1], &view) < 0) {
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
    if (table_view(args[1], &view) < 0) {
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
    {"may_reach", (PyCFunction)(void (*)(void))may_reach, METH_FASTCALL, may_reach_doc},
    {"frozen_new", (PyCFunction)(void (*)(void))frozen_new, METH_FASTCALL, frozen_new_doc},
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
    if (str_probability == NULL || str_words == NULL || str_text == NULL
        || str_role_confidence == NULL) {
        return NULL;
    }
    return PyModule_Create(&kernel_module);
}
