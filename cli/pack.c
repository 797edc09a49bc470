/* pack.c: `kf pack DIR [-o OUT]`: build a solution document from a kernel
 * directory (spec.json plus its sources, see lib/pack.h), check it, and
 * write it as JSON to OUT or stdout. Single-threaded.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "kf_err.h"
#include "model.h"
/* lib/pack.h nests a comment opener in its header comment; -Wcomment flags it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcomment"
#include "pack.h"
#pragma GCC diagnostic pop

static void pack_usage(FILE *f)
{
    fprintf(f, "usage: kf pack DIR [-o OUT.json] [--json]\n\n"
               "Build a FlashInfer-Trace solution.json from a directory, validate it and write it\n"
               "to OUT (default stdout). DIR is either\n"
               "  a kernel directory: DIR/spec.json holds the solution without sources; every\n"
               "  .py .cu .cuh .cpp .cc .cxx .c .h .hpp file beside it becomes a source; or\n"
               "  a contest starter-kit directory: DIR/config.toml ([solution] name, definition,\n"
               "  author; [build] language, entry_point, destination_passing_style, binding,\n"
               "  compile_options) and the sources in DIR/solution/<language>/.\n"
               "  --json   with -o: print {solution, out, sources} on stdout\n");
}

int kf_cmd_pack(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    bool js = false;
    if (kf_cli_wants_help(argc, argv)) {
        pack_usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            js = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "kf pack: unknown option '%s'\n", argv[i]);
            pack_usage(stderr);
            return 2;
        } else if (!dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "kf pack: one directory only\n");
            return 2;
        }
    }
    if (!dir) {
        pack_usage(stderr);
        return 2;
    }

    struct kf_err err = {0};
    json_t *doc = NULL;
    struct kf_solution *sol = NULL;
    int rc = 1;
    if (kf_pack_dir(dir, &doc, &err) != 0) {
        fprintf(stderr, "error %s: %s: %s\n", dir, err.path[0] ? err.path : "$", err.msg);
        goto out;
    }
    if (kf_solution_from_json(doc, &sol, &err) != 0) {
        fprintf(stderr, "error %s: %s: %s\n", dir, err.path[0] ? err.path : "$", err.msg);
        goto out;
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "error %s: cannot write\n", out);
        goto out;
    }
    int bad = json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f) == EOF;
    if (out)
        bad |= fclose(f) != 0;
    else
        bad |= fflush(f) != 0;
    if (bad) {
        fprintf(stderr, "error %s: cannot write\n", out ? out : "stdout");
        goto out;
    }
    if (out && js) {
        json_t *o = json_pack("{s:s, s:s, s:i}", "solution", sol->name, "out", out, "sources",
                              sol->nsources);
        char *t = json_dumps(o, JSON_PRESERVE_ORDER);
        puts(t);
        free(t);
        json_decref(o);
    } else if (out) {
        fprintf(stderr, "packed %s -> %s (%s, %d sources)\n", dir, out, sol->name, sol->nsources);
    }
    rc = 0;
out:
    kf_solution_free(sol);
    json_decref(doc);
    return rc;
}
