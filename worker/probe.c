/* probe.c: the GPU probe child (see probe.h). The child uses the driver API
 * only; everything CUDA stays on its side of fork(). Not thread-safe. */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cudrv.h"   /* the driver through dlopen: kf-worker starts without one */
#include "evdev.h"
#include "trace_build.h"
#include "wire.h"
#include "xalloc.h"

static _Noreturn void probe_child(int device, int fd)
{
    CUdevice dev;
    CUresult r = CUDA_ERROR_UNKNOWN;
    struct kf_err e;
    char name[256] = "", hw[128];
    int dv = 0;
    json_t *m, *env;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (ev_cudrv_load(&e) < 0) {
        m = json_pack("{s:s, s:s}", "type", "error", "message", e.msg);
        wk_frame_write(fd, m, NULL);
        _exit(1);
    }
    if ((r = cuInit(0)) != CUDA_SUCCESS || (r = cuDeviceGet(&dev, device)) != CUDA_SUCCESS ||
        (r = cuDeviceGetName(name, sizeof name, dev)) != CUDA_SUCCESS) {
        m = json_pack("{s:s, s:s}", "type", "error", "message", ev_cu_str(r));
        wk_frame_write(fd, m, NULL);
        _exit(1);
    }
    cuDriverGetVersion(&dv);
    ev_hardware_name(name, hw, sizeof hw);
    /* The same environment object the engine puts in its traces. */
    env = ev_environment_json(hw, dv);
    m = json_pack("{s:s, s:s, s:s, s:O}", "type", "env", "name", name, "hardware", hw, "libs",
                  json_object_get(env, "libs"));
    _exit(wk_frame_write(fd, m, NULL) < 0 ? 2 : 0);
}

int wk_probe_gpu(int device, double timeout_s, json_t **env_out, char **name_out,
                 struct kf_err *err)
{
    int p[2], rc = 0, status;
    pid_t pid;
    struct wk_reader rd;
    json_t *m = NULL;
    struct timespec t0, t1;

    *env_out = NULL;
    if (pipe2(p, O_CLOEXEC) < 0)
        return kf_err_set(err, KF_EIO, NULL, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return kf_err_set(err, KF_EIO, NULL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(p[0]);
        probe_child(device, p[1]);
    }
    setpgid(pid, pid);
    close(p[1]);
    wk_reader_init(&rd, 1 << 16);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        double left;
        int k;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        left = timeout_s - ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
        if (left <= 0) {
            rc = kf_err_set(err, KF_ETIMEOUT, NULL, "GPU probe of device %d hung for %.0f s",
                            device, timeout_s);
            break;
        }
        k = poll(&pf, 1, (int)(left * 1000) + 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            continue;
        k = wk_reader_read(&rd, p[0], &m, err);
        if (k == WK_READ_AGAIN)
            continue;
        if (k != WK_READ_MSG) {
            rc = k < 0 ? k : kf_err_set(err, KF_ECUDA, NULL, "GPU probe ended without an answer");
            break;
        }
        break;
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(p[0]);
    wk_reader_free(&rd);
    if (rc == 0 && m) {
        const char *type = json_string_value(json_object_get(m, "type"));
        if (type && strcmp(type, "env") == 0 && json_is_string(json_object_get(m, "hardware"))) {
            *env_out = json_pack("{s:O, s:O}", "hardware", json_object_get(m, "hardware"),
                                 "libs", json_object_get(m, "libs"));
            if (name_out)
                *name_out = xstrdup(json_string_value(json_object_get(m, "name")));
        } else {
            const char *msg = json_string_value(json_object_get(m, "message"));
            rc = kf_err_set(err, KF_ECUDA, NULL, "no usable CUDA device %d: %s", device,
                            msg ? msg : "probe failed");
        }
    }
    json_decref(m);
    return rc;
}
