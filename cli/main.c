/* main.c: `kf`, the kernelfarm command-line tool: dispatches to the command
 * named by its first argument (table below), prints `kf --help` and
 * `kf --version`. Single-threaded.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct kf_command commands[] = {
    {"validate", "check definition/workload/solution/trace JSON files (kf validate FILE...)",
     kf_cmd_validate},
    {"synth", "write the contest dataset with synthetic inputs (kf synth --out DIR)", kf_cmd_synth},
    {"pack", "build a solution.json from a kernel directory (kf pack DIR)", kf_cmd_pack},
    {"run", "evaluate a solution on this machine's GPU (kf run [--dataset D] SOLUTION)", kf_cmd_run},
    {"submit", "upload a solution to kf-server (kf submit FILE [--wait])", kf_cmd_submit},
    {"status", "show a task of kf-server (kf status TASK_ID)", kf_cmd_status},
    {"results", "show the leaderboard (kf results [--definition D])", kf_cmd_results},
};
static const int ncommands = (int)(sizeof commands / sizeof commands[0]);

int kf_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kf <command> [options]\n"
               "       kf <command> --help\n"
               "       kf --version\n\n"
               "kernelfarm command-line tool: data tools, the service client and local runs.\n\n"
               "commands:\n");
    for (int i = 0; i < ncommands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nDatasets are found through --dataset DIR or FIB_DATASET_PATH.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            /* `kf help synth` = `kf synth --help` */
            for (int i = 0; i < ncommands; i++)
                if (strcmp(commands[i].name, argv[2]) == 0) {
                    char *args[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, args);
                }
            fprintf(stderr, "kf: unknown command '%s'\n", argv[2]);
            return 2;
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("kf %s\n", KF_CLI_VERSION);
        return 0;
    }
    for (int i = 0; i < ncommands; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kf: unknown command '%s' (kf --help lists them)\n", cmd);
    return 2;
}
