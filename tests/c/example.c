#include <stdio.h>
#include <ocicompose.h>
int main(int argc, char **argv) { /* usage: app SPEC.json; prints the manifest digest */
    ocicompose_spec *spec = NULL; ocicompose_result *result = NULL; ocicompose_error *err = NULL;
    if (argc != 2 || ocicompose_spec_from_path(argv[1], &spec, &err) || ocicompose_compose(spec, NULL, &result, &err)) {
        fprintf(stderr, "ocicompose: %s\n", err ? ocicompose_error_message(err) : "usage: app SPEC.json");
        ocicompose_error_free(err); ocicompose_spec_free(spec); return 1;
    }
    printf("%s\n", ocicompose_result_manifest_digest(result));
    ocicompose_result_free(result); ocicompose_spec_free(spec); return 0;
}
