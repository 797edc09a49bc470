/* commands.h: the `kf` command table. Each command is a function taking the
 * arguments after its name (argv[0] is the command name) and returning the
 * process exit status. cli/main.c dispatches on this table and generates
 * `kf --help` from it. Not thread-safe (command-line programs).
 */
#ifndef KF_CLI_COMMANDS_H
#define KF_CLI_COMMANDS_H

#define KF_CLI_VERSION "0.1.0"

struct kf_command {
    const char *name;
    const char *summary;                 /* one line for `kf --help` */
    int (*run)(int argc, char **argv);   /* argv[0] = the command name */
};

/* Data tools. */
int kf_cmd_validate(int argc, char **argv);   /* cli/validate.c */
int kf_cmd_synth(int argc, char **argv);      /* cli/synth.c */
int kf_cmd_pack(int argc, char **argv);       /* cli/pack.c */
/* Local evaluation on this machine's GPU. */
int kf_cmd_run(int argc, char **argv);        /* cli/run.c */

/* The kf-server client (KF_URL, KF_TOKEN). */
int kf_cmd_submit(int argc, char **argv);     /* cli/client.c */
int kf_cmd_status(int argc, char **argv);     /* cli/client.c */
int kf_cmd_results(int argc, char **argv);    /* cli/client.c */

/* True if argv[1..argc-1] contains -h or --help (used by every command). */
int kf_cli_wants_help(int argc, char **argv);

#endif
