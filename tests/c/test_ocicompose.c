/*
 * Tests of libocicompose through its installed header, as a C user links it.
 *
 *   test_ocicompose FIXTURES SCRATCH EXPECTED_DIGEST
 *
 * FIXTURES holds demo/ (from `ocicompose demo --dir`, without its out/ folder) and the
 * broken layouts made by make_fixtures.py; SCRATCH is an empty folder the tests may
 * write into; EXPECTED_DIGEST is what `ocicompose compose demo/spec.json` printed.
 *
 * tests/c/run.sh builds this file against the shared and the static library and runs
 * both under valgrind. The last line is "N passed, N failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ocicompose.h>

static const char *fixtures;
static const char *scratch;
static const char *expected_digest;

static int failures_in_test;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            failures_in_test++;                                                          \
        }                                                                                \
    } while (0)

#define CHECK_STR(actual, expected)                                                      \
    do {                                                                                 \
        const char *a_ = (actual), *e_ = (expected);                                     \
        if (a_ == NULL || strcmp(a_, e_) != 0) {                                         \
            fprintf(stderr, "    %s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
                    #actual, a_ ? a_ : "(null)", e_);                                    \
            failures_in_test++;                                                          \
        }                                                                                \
    } while (0)

/* Checks a status and, when it is not the expected one, prints the error's message. */
#define CHECK_STATUS(status, err, want)                                                  \
    do {                                                                                 \
        ocicompose_status s_ = (status);                                                 \
        if (s_ != (want)) {                                                              \
            fprintf(stderr, "    %s:%d: status %s (%s), want %s: %s\n", __FILE__,         \
                    __LINE__, ocicompose_status_name(s_), #status,                        \
                    ocicompose_status_name(want),                                         \
                    (err) ? ocicompose_error_message(err) : "(no error object)");       \
            failures_in_test++;                                                          \
        }                                                                                \
    } while (0)

/* ---- helpers ------------------------------------------------------------------------ */

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p == NULL) abort();
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* The whole file, NUL-terminated, or NULL. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) abort();
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL) abort();
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Number of entries of a folder (without . and ..), or -1 when it does not exist. */
static long count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    }
    closedir(d);
    return n;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The demo spec with its output replaced by `output_ref` and `extra` (more fields, each
 * followed by a comma) put before it, parsed with the demo folder as base_dir. The demo's
 * spec.json writes `"output": "oci:out"`. */
static ocicompose_status demo_spec_with(const char *extra, const char *output_ref, ocicompose_spec **spec,
                                        ocicompose_error **err) {
    char *demo = path_join(fixtures, "demo");
    char *spec_path = path_join(demo, "spec.json");
    char *text = read_file(spec_path);
    free(spec_path);
    if (text == NULL) {
        fprintf(stderr, "    cannot read the demo spec in %s\n", demo);
        free(demo);
        return OCICOMPOSE_STATUS_IO;
    }
    const char *needle = "\"output\": \"oci:out\"";
    char *at = strstr(text, needle);
    if (at == NULL) {
        fprintf(stderr, "    the demo spec has no \"output\": \"oci:out\"\n");
        free(text);
        free(demo);
        return OCICOMPOSE_STATUS_SPEC;
    }
    size_t n = strlen(text) + strlen(extra) + strlen(output_ref) + 16;
    char *json = malloc(n);
    if (json == NULL) abort();
    *at = '\0';
    snprintf(json, n, "%s%s\"output\": \"%s\"%s", text, extra, output_ref, at + strlen(needle));
    ocicompose_status status = ocicompose_spec_from_json(json, demo, spec, err);
    free(json);
    free(text);
    free(demo);
    return status;
}

static ocicompose_status demo_spec(const char *output_ref, ocicompose_spec **spec, ocicompose_error **err) {
    return demo_spec_with("", output_ref, spec, err);
}

static char *scratch_ref(const char *name, char **dir_out) {
    char *dir = path_join(scratch, name);
    size_t n = strlen(dir) + 5;
    char *ref = malloc(n);
    if (ref == NULL) abort();
    snprintf(ref, n, "oci:%s", dir);
    *dir_out = dir;
    return ref;
}

/* Status of ocicompose_list_files on a reference; checks that a failure has a message
 * and leaves the output alone. */
static ocicompose_status list_status(const char *reference, char **message_out) {
    char *json = NULL;
    ocicompose_error *err = NULL;
    ocicompose_status status = ocicompose_list_files(reference, NULL, &json, &err);
    if (status == OCICOMPOSE_STATUS_OK) {
        CHECK(json != NULL && json[0] == '[');
        CHECK(err == NULL);
        ocicompose_string_free(json);
    } else {
        CHECK(json == NULL);
        CHECK(err != NULL);
        CHECK(ocicompose_error_code(err) == status);
        const char *message = ocicompose_error_message(err);
        CHECK(message != NULL && message[0] != '\0');
        if (message_out) *message_out = strdup(message ? message : "");
        ocicompose_error_free(err);
    }
    return status;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* Every status and stage of the header with the name it must have: the constant's
 * suffix in lower case. A number that has a name but is missing here (a kind the core
 * added) fails test_version_and_names. */
static const struct {
    uint32_t number;
    const char *name;
} statuses[] = {
    {OCICOMPOSE_STATUS_OK, "ok"},
    {OCICOMPOSE_STATUS_SPEC, "spec"},
    {OCICOMPOSE_STATUS_REFERENCE, "reference"},
    {OCICOMPOSE_STATUS_NOT_FOUND, "not_found"},
    {OCICOMPOSE_STATUS_DIGEST_MISMATCH, "digest_mismatch"},
    {OCICOMPOSE_STATUS_INVALID_IMAGE, "invalid_image"},
    {OCICOMPOSE_STATUS_INVALID_LAYER, "invalid_layer"},
    {OCICOMPOSE_STATUS_UNSUPPORTED, "unsupported"},
    {OCICOMPOSE_STATUS_UNSAFE_PATH, "unsafe_path"},
    {OCICOMPOSE_STATUS_IO, "io"},
    {OCICOMPOSE_STATUS_REFUSED, "refused"},
    {OCICOMPOSE_STATUS_CANCELLED, "cancelled"},
    {OCICOMPOSE_STATUS_REQUIREMENT_FAILED, "requirement_failed"},
    {OCICOMPOSE_STATUS_LIMIT_EXCEEDED, "limit_exceeded"},
    {OCICOMPOSE_STATUS_REGISTRY, "registry"},
    {OCICOMPOSE_STATUS_AUTH, "auth"},
    {OCICOMPOSE_STATUS_PACKAGE, "package"},
    {OCICOMPOSE_STATUS_NULL_ARGUMENT, "null_argument"},
    {OCICOMPOSE_STATUS_INVALID_UTF8, "invalid_utf8"},
    {OCICOMPOSE_STATUS_INVALID_ARGUMENT, "invalid_argument"},
    {OCICOMPOSE_STATUS_PANIC, "panic"},
}, stages[] = {
    {OCICOMPOSE_STAGE_RESOLVE, "resolve"},
    {OCICOMPOSE_STAGE_READ_BASE, "read_base"},
    {OCICOMPOSE_STAGE_READ_ARTIFACTS, "read_artifacts"},
    {OCICOMPOSE_STAGE_WRITE_LAYER, "write_layer"},
    {OCICOMPOSE_STAGE_COPY_BLOBS, "copy_blobs"},
    {OCICOMPOSE_STAGE_COMMIT, "commit"},
};

/* Every warning code with its level, as ocicompose_warning's documentation lists them. */
static const struct {
    const char *code;
    const char *level;
} warning_codes[] = {
    {"runtime_path_overwritten", "warning"},
    {"symlink_shadowed", "warning"},
    {"type_changed", "warning"},
    {"permissions_changed", "warning"},
    {"empty_selection", "warning"},
    {"artifact_overwritten", "info"},
    {"runtime_path_removed", "warning"},
    {"resolved_through_symlink", "info"},
    {"unknown_user", "warning"},
    {"root_user", "warning"},
    {"entrypoint_missing", "warning"},
    {"mutable_reference", "info"},
    {"unsigned_repository", "warning"},
    {"maintainer_script_skipped", "warning"},
    {"ld_cache_stale", "warning"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* The level a known code must have, or NULL for a code missing from warning_codes. */
static const char *level_of(const char *code) {
    for (size_t i = 0; i < COUNT(warning_codes); i++)
        if (strcmp(warning_codes[i].code, code) == 0) return warning_codes[i].level;
    return NULL;
}

static void test_version_and_names(void) {
    const char *version = ocicompose_version();
    CHECK(version != NULL && version[0] >= '0' && version[0] <= '9');
    CHECK(COUNT(statuses) == 21 && COUNT(stages) == 6 && COUNT(warning_codes) == 15);
    for (size_t i = 0; i < COUNT(statuses); i++) CHECK_STR(ocicompose_status_name(statuses[i].number), statuses[i].name);
    for (size_t i = 0; i < COUNT(stages); i++) CHECK_STR(ocicompose_stage_name(stages[i].number), stages[i].name);
    /* Every number the library names is in the tables above, and no other. */
    for (uint32_t n = 0; n < 1024; n++) {
        int status_known = 0, stage_known = 0;
        for (size_t i = 0; i < COUNT(statuses); i++) status_known |= statuses[i].number == n;
        for (size_t i = 0; i < COUNT(stages); i++) stage_known |= stages[i].number == n;
        if (!status_known) CHECK_STR(ocicompose_status_name(n), "unknown");
        if (!stage_known) CHECK_STR(ocicompose_stage_name(n), "unknown");
    }
    CHECK_STR(ocicompose_status_name(UINT32_MAX), "unknown");
    CHECK_STR(ocicompose_stage_name(UINT32_MAX), "unknown");
}

static void test_compose_matches_the_cli(void) {
    char *demo = path_join(fixtures, "demo");
    char *spec_path = path_join(demo, "spec.json");
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(ocicompose_spec_from_path(spec_path, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, NULL, &result, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK(err == NULL);
    if (result != NULL) {
        CHECK_STR(ocicompose_result_manifest_digest(result), expected_digest);
        const char *config = ocicompose_result_config_digest(result);
        CHECK(config != NULL && strncmp(config, "sha256:", 7) == 0 && strlen(config) == 71);
        CHECK_STR(ocicompose_result_tag(result), "1.0_custom");
        const char *json = ocicompose_result_report_json(result);
        CHECK(json != NULL && strstr(json, expected_digest) != NULL && strstr(json, "\"entries\"") != NULL);
        CHECK(ocicompose_result_report_json(result) == json); /* made once, borrowed */
    }
    char *index = path_join(demo, "out/index.json");
    CHECK(exists(index));
    free(index);
    ocicompose_error_free(err);
    ocicompose_result_free(result);
    ocicompose_spec_free(spec);
    free(spec_path);
    free(demo);
}

/* The demo overwrites the base's shell and /tmp and has a misspelt include. */
static void test_warnings(void) {
    char *dir;
    char *ref = scratch_ref("warnings", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, NULL, &result, &err), err, OCICOMPOSE_STATUS_OK);
    size_t count = ocicompose_result_warning_count(result);
    CHECK(count >= 3);
    int runtime = 0, permissions = 0, empty = 0;
    for (size_t i = 0; i < count; i++) {
        const ocicompose_warning *w = ocicompose_result_warning(result, i);
        CHECK(w != NULL);
        const char *code = ocicompose_warning_code(w);
        const char *level = ocicompose_warning_level(w);
        const char *path = ocicompose_warning_path(w);
        const char *message = ocicompose_warning_message(w);
        int64_t artifact = ocicompose_warning_artifact(w);
        CHECK(code != NULL && level != NULL && path != NULL && message != NULL && message[0] != '\0');
        CHECK(artifact >= -1 && artifact <= 1);
        if (code == NULL || path == NULL) continue;
        /* A code this test does not know, or with another level, fails here. */
        const char *want_level = level_of(code);
        CHECK(want_level != NULL);
        if (want_level != NULL) CHECK_STR(level, want_level);
        if (strcmp(code, "runtime_path_overwritten") == 0 && strcmp(path, "/usr/bin/sh") == 0) {
            runtime++;
            CHECK(artifact == 1);
        }
        if (strcmp(code, "permissions_changed") == 0 && strcmp(path, "/tmp") == 0) permissions++;
        if (strcmp(code, "empty_selection") == 0 && strcmp(path, "/etc/tool.cnf") == 0) {
            empty++;
            CHECK(artifact == 1);
        }
    }
    CHECK(runtime == 1);
    CHECK(permissions == 1);
    CHECK(empty == 1);
    CHECK(ocicompose_result_warning(result, count) == NULL);
    ocicompose_error_free(err);
    ocicompose_result_free(result);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
}

struct progress_log {
    unsigned calls;
    uint32_t last_stage;
    int out_of_order;
    int over_total;
    unsigned stop_after;  /* cancel at this call (1-based); 0: never */
    uint32_t stop_stage;  /* cancel at the first call of this stage or a later one; 0: never */
};

static int record_progress(void *user_data, uint32_t stage, uint64_t done, uint64_t total) {
    struct progress_log *log = user_data;
    log->calls++;
    if (stage < log->last_stage || stage < OCICOMPOSE_STAGE_RESOLVE || stage > OCICOMPOSE_STAGE_COMMIT)
        log->out_of_order++;
    if (done > total) log->over_total++;
    log->last_stage = stage;
    if (log->stop_after != 0 && log->calls >= log->stop_after) return 0;
    if (log->stop_stage != 0 && stage >= log->stop_stage) return 0;
    return 1;
}

static void test_progress_and_jobs(void) {
    char *dir;
    char *ref = scratch_ref("progress", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    struct progress_log log = {0};
    ocicompose_options *opts = ocicompose_options_new();
    CHECK(opts != NULL);
    CHECK_STATUS(ocicompose_options_set_jobs(opts, 1, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_options_set_progress(opts, record_progress, &log, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, opts, &result, &err), err, OCICOMPOSE_STATUS_OK);
    /* One worker instead of all: the same bytes. */
    CHECK_STR(ocicompose_result_manifest_digest(result), expected_digest);
    CHECK(log.calls > 0);
    CHECK(log.out_of_order == 0);
    CHECK(log.over_total == 0);
    CHECK(log.last_stage == OCICOMPOSE_STAGE_COMMIT);
    ocicompose_error_free(err);
    ocicompose_result_free(result);
    ocicompose_options_free(opts);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
}

static void test_cancel_leaves_a_new_output_absent(void) {
    char *dir;
    char *ref = scratch_ref("cancel-new", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    struct progress_log log = {0};
    log.stop_after = 1;
    ocicompose_options *opts = ocicompose_options_new();
    CHECK_STATUS(ocicompose_options_set_progress(opts, record_progress, &log, NULL), NULL, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, opts, &result, &err), err, OCICOMPOSE_STATUS_CANCELLED);
    CHECK(result == NULL);
    CHECK(ocicompose_error_code(err) == OCICOMPOSE_STATUS_CANCELLED);
    CHECK(log.calls == 1); /* never called again after the cancel */
    CHECK(!exists(dir) || count_entries(dir) == 0);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    ocicompose_options_free(opts);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
}

/* Cancelling a compose into an existing layout when it reaches its commit stage (the
 * new layer is written by then) leaves index.json and the blobs exactly as they were. */
static void test_cancel_leaves_an_existing_output_as_it_was(void) {
    char *dir;
    char *ref = scratch_ref("cancel-existing", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, NULL, &result, &err), err, OCICOMPOSE_STATUS_OK);
    ocicompose_result_free(result);
    result = NULL;

    char *index_path = path_join(dir, "index.json");
    char *blobs = path_join(dir, "blobs/sha256");
    char *index_before = read_file(index_path);
    long blobs_before = count_entries(blobs);
    long entries_before = count_entries(dir);
    CHECK(index_before != NULL && blobs_before > 0);

    /* The same compose with another timestamp (so another image), cancelled at commit. */
    struct progress_log log = {0};
    log.stop_stage = OCICOMPOSE_STAGE_COMMIT;
    ocicompose_options *opts = ocicompose_options_new();
    CHECK_STATUS(ocicompose_options_set_progress(opts, record_progress, &log, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_options_set_source_date_epoch(opts, 1000000000, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, opts, &result, &err), err, OCICOMPOSE_STATUS_CANCELLED);
    CHECK(result == NULL);
    CHECK(log.last_stage == OCICOMPOSE_STAGE_COMMIT);
    char *index_after = read_file(index_path);
    CHECK(index_after != NULL && index_before != NULL && strcmp(index_before, index_after) == 0);
    CHECK(count_entries(blobs) == blobs_before);
    CHECK(count_entries(dir) == entries_before); /* no staging folder left behind */

    free(index_after);
    free(index_before);
    free(blobs);
    free(index_path);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    ocicompose_options_free(opts);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
}

static void test_strict_refuses_with_warnings(void) {
    char *dir;
    char *ref = scratch_ref("strict", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    ocicompose_options *opts = ocicompose_options_new();
    CHECK_STATUS(ocicompose_options_set_strict(opts, OCICOMPOSE_STRICT_ON, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, opts, &result, &err), err, OCICOMPOSE_STATUS_REFUSED);
    CHECK(result == NULL);
    size_t count = ocicompose_error_warning_count(err);
    CHECK(count >= 3);
    int saw_shell = 0, serious = 0;
    for (size_t i = 0; i < count; i++) {
        const ocicompose_warning *w = ocicompose_error_warning(err, i);
        const char *level = ocicompose_warning_level(w);
        const char *path = ocicompose_warning_path(w);
        CHECK(level != NULL && path != NULL);
        if (level != NULL && strcmp(level, "warning") == 0) serious++;
        if (path != NULL && strcmp(path, "/usr/bin/sh") == 0) saw_shell = 1;
    }
    /* The error lists what the compose would have printed, info included; what refused
     * it are the warnings of level "warning". */
    CHECK(serious >= 3);
    CHECK(saw_shell);
    CHECK(ocicompose_error_warning(err, count) == NULL);
    CHECK(!exists(dir) || count_entries(dir) == 0);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    err = NULL;

    /* A value outside ocicompose_strict is refused, and names the argument. */
    CHECK_STATUS(ocicompose_options_set_strict(opts, 7, &err), err, OCICOMPOSE_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "strict") != NULL);
    ocicompose_error_free(err);
    ocicompose_options_free(opts);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
}

/* How many times `needle` occurs in `haystack`. */
static int count_occurrences(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *at = strstr(haystack, needle); at != NULL; at = strstr(at + 1, needle)) n++;
    return n;
}

/* The manifest blob `digest` ("sha256:HEX") of the layout `dir`, or NULL. */
static char *read_manifest(const char *dir, const char *digest) {
    if (digest == NULL || strncmp(digest, "sha256:", 7) != 0) return NULL;
    char *blobs = path_join(dir, "blobs/sha256");
    char *path = path_join(blobs, digest + 7);
    char *text = read_file(path);
    free(path);
    free(blobs);
    return text;
}

#define ZSTD_LAYER "application/vnd.oci.image.layer.v1.tar+zstd"

/* Whether the report's (pretty-printed) layer object of media type `media` says
 * "new": true. */
static int report_layer_is_new(const char *json, const char *media) {
    const char *at = strstr(json, media);
    if (at == NULL) return 0;
    const char *end = strchr(at, '}');
    const char *key = strstr(at, "\"new\"");
    if (key == NULL || end == NULL || key > end) return 0;
    key += strlen("\"new\"");
    while (*key == ' ' || *key == ':') key++;
    return strncmp(key, "true", 4) == 0;
}

/* The CLI's --compression as an option: zstd writes the new layer as tar+zstd and the
 * same config (only the compression changes); a level zstd lacks is refused at compose
 * time, an unknown format at once; NULL gives the spec's gzip back. */
static void test_compression(void) {
    char *dir;
    char *ref = scratch_ref("zstd", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    ocicompose_options *opts = ocicompose_options_new();
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_options_set_compression(opts, "zstd", &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, opts, &result, &err), err, OCICOMPOSE_STATUS_OK);
    char *zstd_config = NULL;
    if (result != NULL) {
        const char *digest = ocicompose_result_manifest_digest(result);
        CHECK(digest != NULL && strcmp(digest, expected_digest) != 0);
        zstd_config = strdup(ocicompose_result_config_digest(result));
        /* The report's new layer, then the manifest the layout holds: only the new layer
         * is zstd (the demo base's layers stay gzip), and it is the last one. */
        const char *json = ocicompose_result_report_json(result);
        CHECK(json != NULL && report_layer_is_new(json, ZSTD_LAYER));
        CHECK(json != NULL && count_occurrences(json, ZSTD_LAYER) == 1);
        char *manifest = read_manifest(dir, digest);
        CHECK(manifest != NULL);
        if (manifest != NULL) {
            CHECK(strstr(manifest, "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"") != NULL);
            CHECK(count_occurrences(manifest, ZSTD_LAYER) == 1);
            const char *last_layer = NULL;
            for (const char *at = strstr(manifest, "application/vnd.oci.image.layer."); at != NULL;
                 at = strstr(at + 1, "application/vnd.oci.image.layer."))
                last_layer = at;
            CHECK(last_layer != NULL && strncmp(last_layer, ZSTD_LAYER "\"", strlen(ZSTD_LAYER) + 1) == 0);
            free(manifest);
        }
    }
    ocicompose_result_free(result);
    result = NULL;

    /* zstd has levels 1 to 19: the setter takes the text, the compose refuses it before
     * writing anything. */
    char *dir25;
    char *ref25 = scratch_ref("zstd-25", &dir25);
    ocicompose_spec *spec25 = NULL;
    CHECK_STATUS(demo_spec(ref25, &spec25, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_options_set_compression(opts, "zstd:25", &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec25, opts, &result, &err), err, OCICOMPOSE_STATUS_SPEC);
    CHECK(result == NULL);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "compression_level") != NULL);
    CHECK(!exists(dir25));
    ocicompose_error_free(err);
    err = NULL;

    /* Not a format the CLI takes: refused at once, naming what is accepted. */
    const char *bad[] = {"brotli", "zstd:fast", "", "gzip:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(ocicompose_options_set_compression(opts, bad[i], &err), err, OCICOMPOSE_STATUS_SPEC);
        CHECK(err != NULL && strstr(ocicompose_error_message(err), "layer_compression") != NULL);
        ocicompose_error_free(err);
        err = NULL;
    }
    CHECK_STATUS(ocicompose_options_set_compression(opts, "brotli", &err), err, OCICOMPOSE_STATUS_SPEC);
    const char *message = err ? ocicompose_error_message(err) : "";
    CHECK(strstr(message, "brotli") != NULL && strstr(message, "`gzip`") != NULL && strstr(message, "`zstd`") != NULL &&
          strstr(message, "`none`") != NULL && strstr(message, "`auto`") != NULL);
    ocicompose_error_free(err);
    err = NULL;
    CHECK(ocicompose_options_set_compression(NULL, "zstd", NULL) == OCICOMPOSE_STATUS_NULL_ARGUMENT);

    /* NULL removes the override: the spec's gzip, the CLI's image, the zstd one's config. */
    CHECK_STATUS(ocicompose_options_set_compression(opts, NULL, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec25, opts, &result, &err), err, OCICOMPOSE_STATUS_OK);
    if (result != NULL) {
        CHECK_STR(ocicompose_result_manifest_digest(result), expected_digest);
        if (zstd_config != NULL) CHECK_STR(ocicompose_result_config_digest(result), zstd_config);
    }

    free(zstd_config);
    ocicompose_result_free(result);
    ocicompose_error_free(err);
    ocicompose_options_free(opts);
    ocicompose_spec_free(spec25);
    ocicompose_spec_free(spec);
    free(ref25);
    free(dir25);
    free(ref);
    free(dir);
}

static void test_spec_errors(void) {
    ocicompose_spec *spec = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(ocicompose_spec_from_json("{\"base\": ", NULL, &spec, &err), err, OCICOMPOSE_STATUS_SPEC);
    CHECK(spec == NULL);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "line 1") != NULL);
    ocicompose_error_free(err);
    err = NULL;

    const char *misspelt = "{\"base\": \"oci:b\", \"output\": \"oci:o\", \"artifacts\": "
                           "[{\"image\": \"oci:a\", \"include\": [\"/x\"], \"exlude\": [\"/y\"]}]}";
    CHECK_STATUS(ocicompose_spec_from_json(misspelt, NULL, &spec, &err), err, OCICOMPOSE_STATUS_SPEC);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "exlude") != NULL);
    ocicompose_error_free(err);
    err = NULL;

    char *missing = path_join(scratch, "no-such-spec.json");
    CHECK_STATUS(ocicompose_spec_from_path(missing, &spec, &err), err, OCICOMPOSE_STATUS_IO);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "no-such-spec.json") != NULL);
    ocicompose_error_free(err);
    free(missing);
}

static void test_boundary_errors(void) {
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    char *json = NULL;

    CHECK_STATUS(ocicompose_compose(NULL, NULL, &result, &err), err, OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "spec") != NULL);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    err = NULL;

    CHECK_STATUS(ocicompose_spec_from_json("{}", NULL, NULL, &err), err, OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "spec_out") != NULL);
    ocicompose_error_free(err);
    err = NULL;

    const char bad_utf8[] = {'{', '"', (char)0xff, '"', '}', '\0'};
    CHECK_STATUS(ocicompose_spec_from_json(bad_utf8, NULL, &spec, &err), err, OCICOMPOSE_STATUS_INVALID_UTF8);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "offset 2") != NULL);
    ocicompose_error_free(err);
    err = NULL;

    /* err_out may be NULL: the status alone still says what happened. */
    CHECK(ocicompose_list_files(NULL, NULL, &json, NULL) == OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK(ocicompose_inspect("oci:x", NULL, NULL, NULL) == OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK(ocicompose_options_set_jobs(NULL, 1, NULL) == OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK(json == NULL && spec == NULL && result == NULL);

    /* Accessors and frees take NULL. */
    CHECK(ocicompose_error_code(NULL) == OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK(ocicompose_error_message(NULL) == NULL);
    CHECK(ocicompose_result_manifest_digest(NULL) == NULL);
    CHECK(ocicompose_result_warning_count(NULL) == 0);
    CHECK(ocicompose_warning_artifact(NULL) == -1);
    ocicompose_spec_free(NULL);
    ocicompose_options_free(NULL);
    ocicompose_result_free(NULL);
    ocicompose_error_free(NULL);
    ocicompose_string_free(NULL);
}

static void test_list_and_inspect(void) {
    char *base = path_join(fixtures, "demo/images/base");
    size_t n = strlen(base) + 16;
    char *ref = malloc(n);
    if (ref == NULL) abort();
    snprintf(ref, n, "oci:%s:1.0", base);

    char *json = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(ocicompose_list_files(ref, NULL, &json, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK(json != NULL && json[0] == '[' && strstr(json, "\"/etc/passwd\"") != NULL);
    ocicompose_string_free(json);
    json = NULL;

    CHECK_STATUS(ocicompose_inspect(ref, "linux/amd64", &json, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK(json != NULL && json[0] == '{' && strstr(json, "sha256:") != NULL);
    ocicompose_string_free(json);
    ocicompose_error_free(err);
    free(ref);
    free(base);
}

/* Every core status a reference or a broken image can provoke, through list_files. */
static void test_image_errors(void) {
    char *message = NULL;
    CHECK(list_status("no-transport-here", &message) == OCICOMPOSE_STATUS_REFERENCE);
    free(message);
    message = NULL;
    CHECK(list_status("docker-daemon:debian:12", &message) == OCICOMPOSE_STATUS_UNSUPPORTED);
    CHECK(message != NULL && strstr(message, "docker") != NULL);
    free(message);
    message = NULL;

    struct {
        const char *layout;
        ocicompose_status want;
    } cases[] = {
        {"missing-layout", OCICOMPOSE_STATUS_NOT_FOUND},
        {"broken/digest-mismatch", OCICOMPOSE_STATUS_DIGEST_MISMATCH},
        {"broken/invalid-image", OCICOMPOSE_STATUS_INVALID_IMAGE},
        {"broken/invalid-layer", OCICOMPOSE_STATUS_INVALID_LAYER},
        {"broken/unsafe-path", OCICOMPOSE_STATUS_UNSAFE_PATH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = path_join(fixtures, cases[i].layout);
        size_t n = strlen(dir) + 5;
        char *ref = malloc(n);
        if (ref == NULL) abort();
        snprintf(ref, n, "oci:%s", dir);
        ocicompose_status got = list_status(ref, &message);
        if (got != cases[i].want) {
            fprintf(stderr, "    %s: status %s, want %s: %s\n", cases[i].layout, ocicompose_status_name(got),
                    ocicompose_status_name(cases[i].want), message ? message : "");
            failures_in_test++;
        }
        free(message);
        message = NULL;
        free(ref);
        free(dir);
    }
}

/* An output folder below a regular file cannot be created: an I/O error naming it. */
static void test_io_error(void) {
    char *file = path_join(scratch, "a-file");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    size_t n = strlen(file) + 16;
    char *ref = malloc(n);
    if (ref == NULL) abort();
    snprintf(ref, n, "oci:%s/out", file);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, NULL, &result, &err), err, OCICOMPOSE_STATUS_IO);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "a-file") != NULL);
    CHECK(result == NULL);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    ocicompose_spec_free(spec);
    free(ref);
    free(file);
}

/* A `require` check that the final image fails refuses the compose; nothing is written. */
static void test_requirement_failed(void) {
    char *dir;
    char *ref = scratch_ref("require", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(demo_spec_with("\"require\": [{\"path\": \"/usr/bin/not-there\"}], ", ref, &spec, &err), err,
                 OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, NULL, &result, &err), err, OCICOMPOSE_STATUS_REQUIREMENT_FAILED);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "/usr/bin/not-there") != NULL);
    CHECK(result == NULL);
    CHECK(!exists(dir) || count_entries(dir) == 0);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
}

/* A layer past the spec's `limits` is refused before it is read any further. */
static void test_limit_exceeded(void) {
    char *dir;
    char *ref = scratch_ref("limits", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    CHECK_STATUS(demo_spec_with("\"limits\": {\"max_layer_entries\": 1}, ", ref, &spec, &err), err,
                 OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, NULL, &result, &err), err, OCICOMPOSE_STATUS_LIMIT_EXCEEDED);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "max_layer_entries") != NULL);
    CHECK(result == NULL);
    CHECK(!exists(dir) || count_entries(dir) == 0);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
}

/* A docker:// reference to a registry that is not there: a registry error naming it
 * (after the retries), and the status has its name. */
static void test_registry_unreachable(void) {
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    const char *json = "{\"base\": \"docker://127.0.0.1:1/lib/base:1\", \"tls_verify\": false, "
                       "\"output\": \"docker://127.0.0.1:1/app/x:1\"}";
    CHECK_STATUS(ocicompose_spec_from_json(json, NULL, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, NULL, &result, &err), err, OCICOMPOSE_STATUS_REGISTRY);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "127.0.0.1:1") != NULL);
    CHECK(strcmp(ocicompose_status_name(OCICOMPOSE_STATUS_REGISTRY), "registry") == 0);
    CHECK(strcmp(ocicompose_status_name(OCICOMPOSE_STATUS_AUTH), "auth") == 0);
    CHECK(result == NULL);
    ocicompose_result_free(result); /* NULL unless a check above failed */
    ocicompose_error_free(err);
    ocicompose_spec_free(spec);
}

/* Several threads compose at once, sharing one options object; each gets the image. */
#define THREADS 3
struct thread_job {
    int index;
    const ocicompose_options *opts;
    char digest[80];
    ocicompose_status status;
};

static void *compose_in_thread(void *arg) {
    struct thread_job *job = arg;
    char name[32];
    snprintf(name, sizeof name, "thread-%d", job->index);
    char *dir;
    char *ref = scratch_ref(name, &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    job->status = demo_spec(ref, &spec, &err);
    if (job->status == OCICOMPOSE_STATUS_OK) job->status = ocicompose_compose(spec, job->opts, &result, &err);
    if (job->status == OCICOMPOSE_STATUS_OK)
        snprintf(job->digest, sizeof job->digest, "%s", ocicompose_result_manifest_digest(result));
    else
        fprintf(stderr, "    thread %d: %s\n", job->index, ocicompose_error_message(err));
    ocicompose_error_free(err);
    ocicompose_result_free(result);
    ocicompose_spec_free(spec);
    free(ref);
    free(dir);
    return NULL;
}

/* rebuild composes the demo spec once (no report yet), then finds it unchanged; outdated
 * agrees with the report it wrote. */
static void test_rebuild_and_outdated(void) {
    char *demo = path_join(fixtures, "demo");
    char *spec_path = path_join(demo, "spec.json");
    char *reports = path_join(scratch, "rebuild-reports");
    char *report = path_join(reports, "spec.report.json");
    const char *specs[] = {spec_path};
    char *json = NULL;
    size_t failed = 99;
    ocicompose_error *err = NULL;

    CHECK_STATUS(ocicompose_rebuild(specs, 1, reports, NULL, 0, &json, &failed, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK(failed == 0);
    CHECK(json != NULL && strstr(json, "\"status\":\"rebuilt\"") != NULL && strstr(json, expected_digest) != NULL);
    CHECK(json != NULL && strstr(json, "no report yet") != NULL);
    ocicompose_string_free(json);
    json = NULL;
    CHECK(exists(report));

    CHECK_STATUS(ocicompose_rebuild(specs, 1, reports, NULL, 1, &json, &failed, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK(failed == 0);
    CHECK(json != NULL && strstr(json, "\"status\":\"unchanged\"") != NULL && strstr(json, "\"reasons\":[]") != NULL);
    ocicompose_string_free(json);
    json = NULL;

    ocicompose_spec *spec = NULL;
    CHECK_STATUS(ocicompose_spec_from_path(spec_path, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_outdated(spec, report, &json, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STR(json, "[]");
    ocicompose_string_free(json);
    json = NULL;
    char *missing = path_join(reports, "missing.json");
    CHECK_STATUS(ocicompose_outdated(spec, missing, &json, &err), err, OCICOMPOSE_STATUS_IO);
    CHECK(json == NULL && err != NULL && strstr(ocicompose_error_message(err), "missing.json") != NULL);
    ocicompose_error_free(err);

    free(missing);
    ocicompose_spec_free(spec);
    free(report);
    free(reports);
    free(spec_path);
    free(demo);
}

static void test_threads(void) {
    ocicompose_options *opts = ocicompose_options_new();
    ocicompose_options_set_jobs(opts, 2, NULL);
    struct thread_job jobs[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].index = i;
        jobs[i].opts = opts;
        CHECK(pthread_create(&threads[i], NULL, compose_in_thread, &jobs[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].status == OCICOMPOSE_STATUS_OK);
        CHECK_STR(jobs[i].digest, expected_digest);
    }
    ocicompose_options_free(opts);
}

/* ---- runner ---------------------------------------------------------------------------- */

struct test {
    const char *name;
    void (*run)(void);
};

/* The CLI's --sign-key, --package and --package-file as options. Signing leaves the
 * image's digest as it is and attaches cosign's signature; a package with no repository
 * to find it in is refused before anything is written. */
static void test_sign_key_and_packages(void) {
    char *dir;
    char *ref = scratch_ref("signed", &dir);
    ocicompose_spec *spec = NULL;
    ocicompose_result *result = NULL;
    ocicompose_error *err = NULL;
    ocicompose_options *opts = ocicompose_options_new();
    char *keys = path_join(fixtures, "keys");
    char *key = path_join(keys, "sign.pem");
    CHECK_STATUS(demo_spec(ref, &spec, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_options_set_sign_key(opts, key, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec, opts, &result, &err), err, OCICOMPOSE_STATUS_OK);
    if (result != NULL) {
        CHECK_STR(ocicompose_result_manifest_digest(result), expected_digest);
        const char *json = ocicompose_result_report_json(result);
        CHECK(json != NULL && strstr(json, "application/vnd.dev.cosign.simplesigning.v1+json") != NULL);
    }
    ocicompose_result_free(result);
    result = NULL;
    CHECK_STATUS(ocicompose_options_set_sign_key(opts, "", &err), err, OCICOMPOSE_STATUS_INVALID_ARGUMENT);
    ocicompose_error_free(err);
    err = NULL;
    CHECK_STATUS(ocicompose_options_set_sign_key(opts, NULL, &err), err, OCICOMPOSE_STATUS_OK);

    char *dir2;
    char *ref2 = scratch_ref("packages", &dir2);
    ocicompose_spec *spec2 = NULL;
    CHECK_STATUS(demo_spec(ref2, &spec2, &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_options_add_package(opts, "curl", &err), err, OCICOMPOSE_STATUS_OK);
    CHECK_STATUS(ocicompose_compose(spec2, opts, &result, &err), err, OCICOMPOSE_STATUS_SPEC);
    CHECK(result == NULL);
    CHECK(err != NULL && strstr(ocicompose_error_message(err), "packages.repositories") != NULL);
    CHECK(!exists(dir2));
    ocicompose_error_free(err);
    err = NULL;
    CHECK(ocicompose_options_add_package(NULL, "curl", NULL) == OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK(ocicompose_options_add_package(opts, NULL, NULL) == OCICOMPOSE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(ocicompose_options_add_package_file(opts, "", &err), err, OCICOMPOSE_STATUS_INVALID_ARGUMENT);
    ocicompose_error_free(err);

    ocicompose_options_free(opts);
    ocicompose_spec_free(spec2);
    ocicompose_spec_free(spec);
    free(key);
    free(keys);
    free(ref2);
    free(dir2);
    free(ref);
    free(dir);
}

static const struct test tests[] = {
    {"version_and_names", test_version_and_names},
    {"compose_matches_the_cli", test_compose_matches_the_cli},
    {"warnings", test_warnings},
    {"progress_and_jobs", test_progress_and_jobs},
    {"cancel_leaves_a_new_output_absent", test_cancel_leaves_a_new_output_absent},
    {"cancel_leaves_an_existing_output_as_it_was", test_cancel_leaves_an_existing_output_as_it_was},
    {"strict_refuses_with_warnings", test_strict_refuses_with_warnings},
    {"compression", test_compression},
    {"sign_key_and_packages", test_sign_key_and_packages},
    {"spec_errors", test_spec_errors},
    {"boundary_errors", test_boundary_errors},
    {"list_and_inspect", test_list_and_inspect},
    {"image_errors", test_image_errors},
    {"io_error", test_io_error},
    {"requirement_failed", test_requirement_failed},
    {"limit_exceeded", test_limit_exceeded},
    {"registry_unreachable", test_registry_unreachable},
    {"threads", test_threads},
    {"rebuild_and_outdated", test_rebuild_and_outdated},
};

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FIXTURES SCRATCH EXPECTED_DIGEST\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    scratch = argv[2];
    expected_digest = argv[3];
    const char *only = getenv("OCICOMPOSE_C_TEST");

    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only != NULL && strcmp(only, tests[i].name) != 0) continue;
        failures_in_test = 0;
        tests[i].run();
        if (failures_in_test == 0) {
            printf("ok   %s\n", tests[i].name);
            passed++;
        } else {
            printf("FAIL %s (%d failed checks)\n", tests[i].name, failures_in_test);
            failed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
