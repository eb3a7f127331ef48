/*
 * FFI conformance: drive libprocesskit.so the way a foreign runtime does,
 * knowing nothing but the ABI manifest (abi/processkit.abi.json).
 *
 * This file deliberately does not include processkit.h. Every symbol is
 * found with dlvsym() under the version node the manifest names, every call
 * goes through libffi with a call interface built from the manifest's types,
 * and every struct is allocated from the manifest's size and filled at the
 * manifest's field offsets. Enum values and constants come from the manifest
 * too.
 *
 * Usage: ffi_conformance_test LIBPROCESSKIT_SO MANIFEST_JSON
 * Prints one line per check and a final "N passed, M failed"; exits non-zero
 * on any failure. Leaves no processes, cgroups or files behind.
 */
#include <dlfcn.h>
#include <errno.h>
#include <ffi.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Checks */

static int g_passed, g_failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok)
        g_passed++;
    else
        g_failed++;
    fflush(stdout);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    g_failed++;
    printf("%d passed, %d failed\n", g_passed, g_failed);
    exit(1);
}

/* ------------------------------------------------------------------------ */
/* A small JSON parser (objects, arrays, strings, integers/reals, literals). */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jval {
    enum jtype type;
    int boolean;
    long long integer;
    double real;
    char *str;
    size_t len;           /* array/object element count */
    struct jval **items;  /* array elements or object values */
    char **keys;          /* object keys */
} jval;

typedef struct {
    const char *p, *end;
    const char *err;
} jparser;

static void jskip(jparser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static jval *jnew(enum jtype t)
{
    jval *v = calloc(1, sizeof *v);
    if (!v)
        die("out of memory");
    v->type = t;
    return v;
}

static void jappend(jval *v, char *key, jval *item)
{
    v->items = realloc(v->items, (v->len + 1) * sizeof *v->items);
    if (v->type == J_OBJ)
        v->keys = realloc(v->keys, (v->len + 1) * sizeof *v->keys);
    if (!v->items || (v->type == J_OBJ && !v->keys))
        die("out of memory");
    if (v->type == J_OBJ)
        v->keys[v->len] = key;
    v->items[v->len++] = item;
}

static jval *jparse_value(jparser *ps, int depth);

static char *jparse_string(jparser *ps)
{
    if (ps->p >= ps->end || *ps->p != '"') {
        ps->err = "expected a string";
        return NULL;
    }
    ps->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    if (!s)
        die("out of memory");
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if (c == '\\') {
            if (ps->p >= ps->end)
                break;
            char e = *ps->p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned code = 0;
                for (int i = 0; i < 4; i++) {
                    if (ps->p >= ps->end) {
                        ps->err = "truncated \\u escape";
                        free(s);
                        return NULL;
                    }
                    char h = *ps->p++;
                    code <<= 4;
                    if (h >= '0' && h <= '9') code |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') code |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') code |= (unsigned)(h - 'A' + 10);
                    else {
                        ps->err = "bad \\u escape";
                        free(s);
                        return NULL;
                    }
                }
                c = code < 0x80 ? (char)code : '?'; /* the manifest is ASCII */
                break;
            }
            default: c = e; break; /* \" \\ \/ */
            }
        }
        if (n + 2 > cap) {
            cap *= 2;
            s = realloc(s, cap);
            if (!s)
                die("out of memory");
        }
        s[n++] = c;
    }
    if (ps->p >= ps->end) {
        ps->err = "unterminated string";
        free(s);
        return NULL;
    }
    ps->p++;
    s[n] = '\0';
    return s;
}

static jval *jparse_value(jparser *ps, int depth)
{
    if (depth > 64) {
        ps->err = "nested too deeply";
        return NULL;
    }
    jskip(ps);
    if (ps->p >= ps->end) {
        ps->err = "unexpected end of input";
        return NULL;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        jval *v = jnew(c == '{' ? J_OBJ : J_ARR);
        char close = c == '{' ? '}' : ']';
        ps->p++;
        jskip(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return v;
        }
        for (;;) {
            char *key = NULL;
            if (v->type == J_OBJ) {
                jskip(ps);
                if (!(key = jparse_string(ps)))
                    return NULL;
                jskip(ps);
                if (ps->p >= ps->end || *ps->p != ':') {
                    ps->err = "expected ':'";
                    return NULL;
                }
                ps->p++;
            }
            jval *item = jparse_value(ps, depth + 1);
            if (!item)
                return NULL;
            jappend(v, key, item);
            jskip(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                return v;
            }
            ps->err = "expected ',' or a closing bracket";
            return NULL;
        }
    }
    if (c == '"') {
        jval *v = jnew(J_STR);
        if (!(v->str = jparse_string(ps)))
            return NULL;
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        jval *v = jnew(J_NUM);
        const char *start = ps->p;
        int is_real = 0;
        while (ps->p < ps->end && strchr("+-0123456789.eE", *ps->p)) {
            if (strchr(".eE", *ps->p))
                is_real = 1;
            ps->p++;
        }
        char buf[64];
        size_t n = (size_t)(ps->p - start);
        if (n == 0 || n >= sizeof buf) {
            ps->err = "bad number";
            return NULL;
        }
        memcpy(buf, start, n);
        buf[n] = '\0';
        v->real = strtod(buf, NULL);
        v->integer = is_real ? (long long)v->real : strtoll(buf, NULL, 10);
        return v;
    }
    static const struct { const char *word; enum jtype type; int boolean; } lits[] = {
        {"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t n = strlen(lits[i].word);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lits[i].word, n) == 0) {
            ps->p += n;
            jval *v = jnew(lits[i].type);
            v->boolean = lits[i].boolean;
            return v;
        }
    }
    ps->err = "unexpected character";
    return NULL;
}

static void jfree(jval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->len; i++) {
        jfree(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static jval *jget(const jval *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

static const char *jstr(const jval *obj, const char *key)
{
    jval *v = jget(obj, key);
    return v && v->type == J_STR ? v->str : NULL;
}

static int jint(const jval *obj, const char *key, long long *out)
{
    jval *v = jget(obj, key);
    if (!v || v->type != J_NUM)
        return 0;
    *out = v->integer;
    return 1;
}

/* The element of array `arr` whose "name" is `name`. */
static jval *jfind(const jval *arr, const char *name)
{
    if (!arr || arr->type != J_ARR)
        return NULL;
    for (size_t i = 0; i < arr->len; i++) {
        const char *n = jstr(arr->items[i], "name");
        if (n && strcmp(n, name) == 0)
            return arr->items[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The manifest */

static jval *g_manifest;

static long long manifest_size_t_bytes(void)
{
    long long n = 0;
    jint(jget(g_manifest, "type_sizes"), "size_t", &n);
    return n;
}

/* An enum constant's value, looked up across every enum of the manifest. */
static long long enum_value(const char *constant)
{
    jval *enums = jget(g_manifest, "enums");
    for (size_t i = 0; enums && i < enums->len; i++) {
        jval *vals = jget(enums->items[i], "values");
        jval *v = jfind(vals, constant);
        long long out;
        if (v && jint(v, "value", &out))
            return out;
    }
    die("manifest has no enum constant %s", constant);
}

static long long constant_value(const char *name)
{
    jval *c = jfind(jget(g_manifest, "constants"), name);
    long long out;
    if (!c || !jint(c, "value", &out))
        die("manifest has no constant %s", name);
    return out;
}

static jval *struct_decl(const char *name)
{
    jval *s = jfind(jget(g_manifest, "structs"), name);
    if (!s)
        die("manifest has no struct %s", name);
    return s;
}

static size_t struct_size(const char *name)
{
    long long n;
    if (!jint(struct_decl(name), "size", &n) || n <= 0)
        die("struct %s has no size", name);
    return (size_t)n;
}

static jval *field_decl(const char *sname, const char *fname)
{
    jval *f = jfind(jget(struct_decl(sname), "fields"), fname);
    if (!f)
        die("manifest struct %s has no field %s", sname, fname);
    return f;
}

/* Bytes of a scalar ABI class (0 for void/struct/unknown). */
static size_t abi_bytes(const char *abi)
{
    if (!abi)
        return 0;
    if (!strcmp(abi, "int8") || !strcmp(abi, "uint8"))
        return 1;
    if (!strcmp(abi, "int16") || !strcmp(abi, "uint16"))
        return 2;
    if (!strcmp(abi, "int32") || !strcmp(abi, "uint32") || !strcmp(abi, "float"))
        return 4;
    if (!strcmp(abi, "int64") || !strcmp(abi, "uint64") || !strcmp(abi, "double"))
        return 8;
    if (!strcmp(abi, "pointer"))
        return sizeof(void *);
    return 0;
}

/* Store / load an integer of ABI class `abi` at p. */
static void store_int(void *p, const char *abi, long long v)
{
    if (!strcmp(abi, "int8") || !strcmp(abi, "uint8")) { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); }
    else if (!strcmp(abi, "int16") || !strcmp(abi, "uint16")) { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); }
    else if (!strcmp(abi, "int32") || !strcmp(abi, "uint32")) { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); }
    else if (!strcmp(abi, "int64") || !strcmp(abi, "uint64")) { uint64_t x = (uint64_t)v; memcpy(p, &x, 8); }
    else die("store_int: not an integer class: %s", abi);
}

static long long load_int(const void *p, const char *abi)
{
    if (!strcmp(abi, "int8")) { int8_t x; memcpy(&x, p, 1); return x; }
    if (!strcmp(abi, "uint8")) { uint8_t x; memcpy(&x, p, 1); return x; }
    if (!strcmp(abi, "int16")) { int16_t x; memcpy(&x, p, 2); return x; }
    if (!strcmp(abi, "uint16")) { uint16_t x; memcpy(&x, p, 2); return x; }
    if (!strcmp(abi, "int32")) { int32_t x; memcpy(&x, p, 4); return x; }
    if (!strcmp(abi, "uint32")) { uint32_t x; memcpy(&x, p, 4); return x; }
    if (!strcmp(abi, "int64")) { int64_t x; memcpy(&x, p, 8); return x; }
    if (!strcmp(abi, "uint64")) { uint64_t x; memcpy(&x, p, 8); return (long long)x; }
    die("load_int: not an integer class: %s", abi);
}

/* A zeroed struct of the manifest's size with its `size` field set. */
static void *struct_new(const char *name)
{
    size_t n = struct_size(name);
    void *p = calloc(1, n);
    if (!p)
        die("out of memory");
    jval *f = field_decl(name, "size");
    long long off;
    jint(f, "offset", &off);
    store_int((char *)p + off, jstr(f, "abi"), (long long)n);
    return p;
}

static void field_set_int(void *s, const char *sname, const char *fname, long long v)
{
    jval *f = field_decl(sname, fname);
    long long off;
    jint(f, "offset", &off);
    store_int((char *)s + off, jstr(f, "abi"), v);
}

static void field_set_ptr(void *s, const char *sname, const char *fname, const void *v)
{
    jval *f = field_decl(sname, fname);
    long long off;
    jint(f, "offset", &off);
    if (strcmp(jstr(f, "abi"), "pointer") != 0)
        die("%s.%s is not a pointer", sname, fname);
    memcpy((char *)s + off, &v, sizeof v);
}

static long long field_get_int(const void *s, const char *sname, const char *fname)
{
    jval *f = field_decl(sname, fname);
    long long off;
    jint(f, "offset", &off);
    return load_int((const char *)s + off, jstr(f, "abi"));
}

/* A char-array field as a C string (bounded by the field's size). */
static void field_get_chars(const void *s, const char *sname, const char *fname, char *buf, size_t cap)
{
    jval *f = field_decl(sname, fname);
    long long off, size;
    jint(f, "offset", &off);
    jint(f, "size", &size);
    size_t n = (size_t)size < cap - 1 ? (size_t)size : cap - 1;
    memcpy(buf, (const char *)s + off, n);
    buf[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Functions: dlvsym + ffi_cif from the manifest */

#define MAX_PARAMS 16

typedef struct {
    const char *name;
    const char *node;
    void *sym;
    size_t nparams;
    const char *ret_abi;
    const char *param_abi[MAX_PARAMS];
    ffi_type *ret;
    ffi_type *params[MAX_PARAMS];
    ffi_cif cif;
    int ready;
} fn_entry;

static fn_entry *g_fns;
static size_t g_nfns;

static ffi_type *ffi_type_of(const char *abi)
{
    if (!abi) return NULL;
    if (!strcmp(abi, "void")) return &ffi_type_void;
    if (!strcmp(abi, "int8")) return &ffi_type_sint8;
    if (!strcmp(abi, "uint8")) return &ffi_type_uint8;
    if (!strcmp(abi, "int16")) return &ffi_type_sint16;
    if (!strcmp(abi, "uint16")) return &ffi_type_uint16;
    if (!strcmp(abi, "int32")) return &ffi_type_sint32;
    if (!strcmp(abi, "uint32")) return &ffi_type_uint32;
    if (!strcmp(abi, "int64")) return &ffi_type_sint64;
    if (!strcmp(abi, "uint64")) return &ffi_type_uint64;
    if (!strcmp(abi, "float")) return &ffi_type_float;
    if (!strcmp(abi, "double")) return &ffi_type_double;
    if (!strcmp(abi, "pointer")) return &ffi_type_pointer;
    return NULL; /* "struct" by value: no function of this ABI takes one */
}

static void load_functions(void *handle)
{
    jval *fns = jget(g_manifest, "functions");
    if (!fns || fns->type != J_ARR || fns->len == 0)
        die("manifest has no functions");
    g_nfns = fns->len;
    g_fns = calloc(g_nfns, sizeof *g_fns);
    if (!g_fns)
        die("out of memory");
    size_t found = 0, prepared = 0;
    for (size_t i = 0; i < g_nfns; i++) {
        jval *f = fns->items[i];
        fn_entry *e = &g_fns[i];
        e->name = jstr(f, "name");
        e->node = jstr(f, "version_node");
        if (!e->name || !e->node) {
            check(0, "function #%zu has a name and a version_node", i);
            continue;
        }
        e->sym = dlvsym(handle, e->name, e->node);
        if (e->sym)
            found++;
        else
            check(0, "dlvsym(%s, %s): %s", e->name, e->node, dlerror());
        jval *params = jget(f, "params");
        e->ret_abi = jstr(jget(f, "return"), "abi");
        e->ret = ffi_type_of(e->ret_abi);
        int ok = e->ret != NULL && params && params->type == J_ARR && params->len <= MAX_PARAMS;
        if (ok) {
            e->nparams = params->len;
            for (size_t k = 0; k < e->nparams; k++) {
                e->param_abi[k] = jstr(params->items[k], "abi");
                e->params[k] = ffi_type_of(e->param_abi[k]);
                if (!e->params[k] || !strcmp(e->param_abi[k], "void"))
                    ok = 0;
            }
        }
        if (!ok) {
            check(0, "%s: manifest types map to libffi types", e->name);
            continue;
        }
        ffi_status st = ffi_prep_cif(&e->cif, FFI_DEFAULT_ABI, (unsigned)e->nparams, e->ret, e->params);
        if (st == FFI_OK)
            prepared++;
        else
            check(0, "ffi_prep_cif(%s) = %d", e->name, (int)st);
        e->ready = e->sym != NULL && st == FFI_OK;
    }
    check(found == g_nfns, "dlvsym found %zu of %zu manifest functions under their version nodes",
          found, g_nfns);
    check(prepared == g_nfns, "ffi_prep_cif succeeded for %zu of %zu functions", prepared, g_nfns);
}

static fn_entry *fn(const char *name)
{
    for (size_t i = 0; i < g_nfns; i++)
        if (g_fns[i].name && strcmp(g_fns[i].name, name) == 0)
            return &g_fns[i];
    die("manifest has no function %s", name);
}

/* An argument or result: integers in .i, pointers in .p, reals in .d. */
typedef union {
    long long i;
    void *p;
    double d;
} val;

#define I(x) ((val){.i = (long long)(x)})
#define P(x) ((val){.p = (void *)(x)})

/* Call `name` through libffi, marshalling each argument to the class the
 * manifest gives its parameter. */
static val ffi_invoke(const char *name, const val *args, size_t nargs)
{
    fn_entry *e = fn(name);
    if (!e->ready)
        die("%s is not callable (missing symbol or cif)", name);
    if (nargs != e->nparams)
        die("%s takes %zu parameters per the manifest, test passes %zu", name, e->nparams, nargs);
    union slot {
        int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
        int64_t i64; uint64_t u64; float f; double d; void *p;
    } slots[MAX_PARAMS];
    void *avalues[MAX_PARAMS];
    for (size_t k = 0; k < nargs; k++) {
        const char *abi = e->param_abi[k];
        union slot *s = &slots[k];
        if (!strcmp(abi, "pointer")) s->p = args[k].p;
        else if (!strcmp(abi, "double")) s->d = args[k].d;
        else if (!strcmp(abi, "float")) s->f = (float)args[k].d;
        else if (!strcmp(abi, "int8")) s->i8 = (int8_t)args[k].i;
        else if (!strcmp(abi, "uint8")) s->u8 = (uint8_t)args[k].i;
        else if (!strcmp(abi, "int16")) s->i16 = (int16_t)args[k].i;
        else if (!strcmp(abi, "uint16")) s->u16 = (uint16_t)args[k].i;
        else if (!strcmp(abi, "int32")) s->i32 = (int32_t)args[k].i;
        else if (!strcmp(abi, "uint32")) s->u32 = (uint32_t)args[k].i;
        else if (!strcmp(abi, "int64")) s->i64 = (int64_t)args[k].i;
        else if (!strcmp(abi, "uint64")) s->u64 = (uint64_t)args[k].i;
        else die("%s: parameter %zu has class %s", name, k, abi);
        avalues[k] = s;
    }
    union {
        ffi_arg a; ffi_sarg s; int64_t i64; uint64_t u64; void *p; double d; float f;
    } rv;
    memset(&rv, 0, sizeof rv);
    ffi_call(&e->cif, FFI_FN(e->sym), &rv, avalues);
    val out = {.i = 0};
    const char *r = e->ret_abi;
    /* libffi widens integral results narrower than ffi_arg to ffi_arg. */
    if (!strcmp(r, "void")) out.i = 0;
    else if (!strcmp(r, "pointer")) out.p = rv.p;
    else if (!strcmp(r, "double")) out.d = rv.d;
    else if (!strcmp(r, "float")) out.d = rv.f;
    else if (!strcmp(r, "int8")) out.i = (int8_t)rv.s;
    else if (!strcmp(r, "int16")) out.i = (int16_t)rv.s;
    else if (!strcmp(r, "int32")) out.i = (int32_t)rv.s;
    else if (!strcmp(r, "uint8")) out.i = (uint8_t)rv.a;
    else if (!strcmp(r, "uint16")) out.i = (uint16_t)rv.a;
    else if (!strcmp(r, "uint32")) out.i = (uint32_t)rv.a;
    else if (!strcmp(r, "int64")) out.i = rv.i64;
    else if (!strcmp(r, "uint64")) out.i = (long long)rv.u64;
    return out;
}

#define NARGS(...) (sizeof((val[]){__VA_ARGS__}) / sizeof(val))
#define CALL(name, ...) ffi_invoke((name), (val[]){__VA_ARGS__}, NARGS(__VA_ARGS__))
#define CALL0(name) ffi_invoke((name), NULL, 0)

static long long g_pk_ok;

/* The calling thread's last processkit error message. */
static const char *last_error(void)
{
    const char *m = CALL0("pk_last_error").p;
    return m ? m : "(null)";
}

static int call_ok(const char *name, const val *args, size_t nargs)
{
    long long rc = ffi_invoke(name, args, nargs).i;
    if (rc == g_pk_ok)
        check(1, "%s returns PK_OK", name);
    else
        check(0, "%s returns PK_OK (got %lld: %s)", name, rc, last_error());
    return rc == g_pk_ok;
}

#define CALL_OK(name, ...) call_ok((name), (val[]){__VA_ARGS__}, NARGS(__VA_ARGS__))

/* ------------------------------------------------------------------------ */
/* Processes */

/* Field 22 (start time) and the state of /proc/PID/stat; 0 if it is gone. */
static int proc_stat(long pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* After ')': field 3 (state) is token 1, field 22 (starttime) is token 20. */
    char *save = NULL;
    int idx = 0;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        idx++;
        if (idx == 1)
            *state = tok[0];
        if (idx == 20) {
            *start = strtoull(tok, NULL, 10);
            return 1;
        }
    }
    return 0;
}

/* Dead: gone, a zombie, or the pid now belongs to another process. */
static int proc_dead(long pid, unsigned long long start)
{
    char state = 0;
    unsigned long long now = 0;
    if (!proc_stat(pid, &state, &now))
        return 1;
    return now != start || state == 'Z' || state == 'X' || state == 'x';
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long read_pid_file(const char *path, long timeout_ms)
{
    for (long waited = 0; waited <= timeout_ms; waited += 20) {
        FILE *f = fopen(path, "r");
        if (f) {
            char buf[32] = {0};
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            if (n > 0 && buf[n - 1] == '\n')
                return strtol(buf, NULL, 10);
        }
        sleep_ms(20);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Scenarios */

/* Every field's size is its class's size (times its array length) and fits in the struct. */
static void check_layouts(void)
{
    jval *structs = jget(g_manifest, "structs");
    size_t fields = 0, bad = 0;
    for (size_t i = 0; structs && i < structs->len; i++) {
        const char *sname = jstr(structs->items[i], "name");
        jval *fs = jget(structs->items[i], "fields");
        long long ssize = (long long)struct_size(sname);
        for (size_t k = 0; fs && k < fs->len; k++) {
            long long off = -1, size = -1, count = 1;
            jint(fs->items[k], "offset", &off);
            jint(fs->items[k], "size", &size);
            jint(fs->items[k], "array_length", &count);
            size_t unit = abi_bytes(jstr(fs->items[k], "abi"));
            fields++;
            if (unit == 0 || (long long)unit * count != size || off < 0 || off % (long long)unit != 0 ||
                off + size > ssize) {
                bad++;
                check(0, "%s.%s: class %s, offset %lld, size %lld is consistent", sname,
                      jstr(fs->items[k], "name"), jstr(fs->items[k], "abi"), off, size);
            }
        }
    }
    check(fields > 0 && bad == 0, "%zu struct fields have consistent classes, sizes and offsets", fields);
}

static void check_struct_sizes(void)
{
    jval *structs = jget(g_manifest, "structs");
    size_t checked = 0;
    for (size_t i = 0; structs && i < structs->len; i++) {
        const char *name = jstr(structs->items[i], "name");
        /* pk_group_options -> PK_STRUCT_GROUP_OPTIONS */
        char id_name[128] = "PK_STRUCT_";
        const char *tail = strncmp(name, "pk_", 3) == 0 ? name + 3 : name;
        size_t n = strlen(id_name);
        for (const char *c = tail; *c && n + 1 < sizeof id_name; c++)
            id_name[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        id_name[n] = '\0';
        jval *id = jfind(jget(jfind(jget(g_manifest, "enums"), "pk_struct_id"), "values"), id_name);
        long long idv;
        if (!id || !jint(id, "value", &idv)) {
            check(0, "struct %s has a pk_struct_id constant %s", name, id_name);
            continue;
        }
        uint64_t size = 0;
        long long rc = CALL("pk_struct_size", I(idv), P(&size)).i;
        check(rc == g_pk_ok && size == struct_size(name),
              "pk_struct_size(%s = %lld) = %llu, manifest says %zu", id_name, idv,
              (unsigned long long)size, struct_size(name));
        checked++;
    }
    check(checked > 0 && checked == structs->len, "pk_struct_size checked for %zu of %zu structs",
          checked, structs ? structs->len : 0);
    uint64_t junk = 0;
    check(CALL("pk_struct_size", I(0x7fff), P(&junk)).i != g_pk_ok,
          "pk_struct_size rejects an unknown id");
}

static void check_version(void)
{
    long long want = (constant_value("PK_VERSION_MAJOR") << 16) |
                     (constant_value("PK_VERSION_MINOR") << 8) | constant_value("PK_VERSION_PATCH");
    long long got = CALL0("pk_version").i;
    check(got == want, "pk_version() = 0x%llx, manifest version macros say 0x%llx", got, want);
    const char *s = CALL0("pk_version_string").p;
    const char *mv = jstr(g_manifest, "version");
    check(s && mv && strcmp(s, mv) == 0, "pk_version_string() = \"%s\", manifest says \"%s\"",
          s ? s : "(null)", mv ? mv : "(null)");
}

static void scenario_group(const char *tmpdir)
{
    char pidfile[PATH_MAX], script[PATH_MAX + 64];
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", tmpdir);
    snprintf(script, sizeof script, "sleep 30 & echo $! > '%s'; wait", pidfile);

    void *opts = struct_new("pk_group_options");
    field_set_int(opts, "pk_group_options", "backend", enum_value("PK_BACKEND_AUTO"));
    field_set_int(opts, "pk_group_options", "min_mechanism", enum_value("PK_MECHANISM_NONE"));
    void *group = NULL;
    if (!CALL_OK("pk_group_create", P(opts), P(&group))) {
        free(opts);
        return;
    }
    free(opts);

    const char *argv[] = {"sh", "-c", script, NULL};
    void *sopts = struct_new("pk_spawn_options");
    field_set_ptr(sopts, "pk_spawn_options", "argv", argv);
    long long inherit = constant_value("PK_STDIO_INHERIT");
    field_set_int(sopts, "pk_spawn_options", "stdin_fd", inherit);
    field_set_int(sopts, "pk_spawn_options", "stdout_fd", inherit);
    field_set_int(sopts, "pk_spawn_options", "stderr_fd", inherit);
    field_set_int(sopts, "pk_spawn_options", "parent_death_signal", -1);
    void *child = NULL;
    int spawned = CALL_OK("pk_group_spawn", P(group), P(sopts), P(&child));
    free(sopts);

    long grandchild = -1;
    unsigned long long start = 0;
    if (spawned) {
        int32_t child_pid = 0;
        if (CALL_OK("pk_child_pid", P(child), P(&child_pid)))
            check(child_pid > 0, "pk_child_pid gives a pid (%d)", (int)child_pid);
        grandchild = read_pid_file(pidfile, 10000);
        char state = 0;
        int running = grandchild > 0 && proc_stat(grandchild, &state, &start);
        check(running,
              "the grandchild wrote its pid (%ld) and is running (state %c)", grandchild,
              state ? state : '?');
    }

    void *cont = struct_new("pk_containment");
    if (CALL_OK("pk_group_containment", P(group), P(cont))) {
        long long mech = field_get_int(cont, "pk_containment", "mechanism");
        long long want = enum_value("PK_MECHANISM_CGROUP_V2");
        const char *mname = CALL("pk_mechanism_name", I(mech)).p;
        char path[600];
        field_get_chars(cont, "pk_containment", "cgroup_path", path, sizeof path);
        check(mech == want, "pk_group_containment: mechanism %lld (%s), want PK_MECHANISM_CGROUP_V2 = %lld; cgroup \"%s\"",
              mech, mname ? mname : "(null)", want, path);
    }
    free(cont);

    CALL_OK("pk_group_kill", P(group));
    if (grandchild > 0) {
        int dead = 0;
        for (int waited = 0; waited <= 10000 && !(dead = proc_dead(grandchild, start)); waited += 20)
            sleep_ms(20);
        check(dead, "pk_group_kill killed the grandchild %ld", grandchild);
    }

    if (spawned) {
        void *status = struct_new("pk_exit_status");
        if (CALL_OK("pk_child_wait", P(child), I(10000), P(status))) {
            long long kind = field_get_int(status, "pk_exit_status", "kind");
            long long sig = field_get_int(status, "pk_exit_status", "signal");
            check(kind == enum_value("PK_EXIT_SIGNAL") && sig == SIGKILL,
                  "the child ended by SIGKILL (kind %lld, signal %lld)", kind, sig);
        }
        free(status);
        CALL_OK("pk_child_free", P(child));
    }
    CALL_OK("pk_group_free", P(group));
    unlink(pidfile);
}

static void scenario_command(void)
{
    void *cmd = NULL;
    if (!CALL_OK("pk_command_new", P("sh"), P(&cmd)))
        return;
    CALL_OK("pk_command_arg", P(cmd), P("-c"));
    CALL_OK("pk_command_arg", P(cmd), P("printf hello"));
    void *result = NULL;
    if (CALL_OK("pk_command_run", P(cmd), P(&result))) {
        const uint8_t *data = NULL;
        uint64_t len = 0; /* size_t per the manifest's type_sizes (checked in main) */
        if (CALL_OK("pk_result_output", P(result), I(enum_value("PK_STREAM_STDOUT")), P(&data), P(&len)))
            check(len == 5 && data && memcmp(data, "hello", 5) == 0,
                  "pk_result_output(stdout) = \"%.*s\" (%llu bytes), want \"hello\"",
                  (int)(len < 64 ? len : 64), data ? (const char *)data : "", (unsigned long long)len);
        void *info = struct_new("pk_run_info");
        if (CALL_OK("pk_result_info", P(result), P(info))) {
            long long code = field_get_int(info, "pk_run_info", "exit_code");
            long long outcome = field_get_int(info, "pk_run_info", "outcome");
            long long bytes = field_get_int(info, "pk_run_info", "stdout_bytes");
            check(code == 0, "pk_run_info.exit_code = %lld, want 0", code);
            check(outcome == enum_value("PK_OUTCOME_EXITED"), "pk_run_info.outcome = %lld, want PK_OUTCOME_EXITED",
                  outcome);
            check(bytes == 5, "pk_run_info.stdout_bytes = %lld, want 5", bytes);
        }
        free(info);
        CALL_OK("pk_result_free", P(result));
    }
    CALL_OK("pk_command_free", P(cmd));
}

/* ------------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBPROCESSKIT_SO MANIFEST_JSON\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    size_t len = 0;
    char *text = read_file(argv[2], &len);
    if (!text)
        die("cannot read manifest %s: %s", argv[2], strerror(errno));
    jparser ps = {text, text + len, NULL};
    g_manifest = jparse_value(&ps, 0);
    jskip(&ps);
    if (!g_manifest || ps.p != ps.end)
        die("manifest %s: JSON error at byte %ld: %s", argv[2], (long)(ps.p - text),
            ps.err ? ps.err : "trailing data");
    free(text);
    check(1, "parsed manifest %s (library %s, version %s, platform %s)", argv[2],
          jstr(g_manifest, "library"), jstr(g_manifest, "version"), jstr(g_manifest, "platform"));
    check(manifest_size_t_bytes() == (long long)sizeof(size_t),
          "manifest size_t is %lld bytes, this platform's is %zu", manifest_size_t_bytes(), sizeof(size_t));

    /* dlopen by an absolute path: a bare file name would search the library path. */
    char lib[PATH_MAX];
    if (!realpath(argv[1], lib))
        die("cannot resolve %s: %s", argv[1], strerror(errno));
    void *handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        die("dlopen(%s): %s", lib, dlerror());
    check(1, "dlopen(%s)", lib);

    load_functions(handle);
    g_pk_ok = enum_value("PK_OK");
    check(g_pk_ok == 0, "PK_OK is 0 in the manifest");

    check_version();
    check_layouts();
    check_struct_sizes();

    const char *base = getenv("TEST_TMPDIR");
    char tmpdir[PATH_MAX];
    snprintf(tmpdir, sizeof tmpdir, "%s/pk_ffi.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        die("mkdtemp(%s): %s", tmpdir, strerror(errno));
    scenario_group(tmpdir);
    check(rmdir(tmpdir) == 0, "removed the temporary directory %s", tmpdir);
    scenario_command();

    free(g_fns);
    jfree(g_manifest);
    dlclose(handle);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
