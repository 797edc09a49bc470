/* runner_main.c: bin/kf-runner, the untrusted runner of docs/runner.md. The
 * judge starts it with its commands on fd 3 and its replies on fd 4; it is
 * not meant to be run by hand. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "runner.h"

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: kf-runner (started by the judge; commands on fd %d, replies on fd %d)\n"
               "The untrusted half of an evaluation: see docs/runner.md.\n",
               EV_RUNNER_CMD_FD, EV_RUNNER_REPLY_FD);
        return 0;
    }
    kf_log_set_level(KF_LOG_INFO);
    return ev_runner_serve(EV_RUNNER_CMD_FD, EV_RUNNER_REPLY_FD);
}
