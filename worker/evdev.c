/* evdev.c: device setup, facts, built-in kernels and CUDA error helpers for
 * the evaluator. See evdev.h. Not thread-safe.
 */
#include "evdev.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "builtin.h"
#include "log.h"
#include "nvrtc_build.h"
#include "sha256.h"
#include "xalloc.h"

const char *ev_cu_str(CUresult r)
{
    static char buf[320];
    const char *n = NULL, *s = NULL;
    if (ev_cu.loaded) {
        cuGetErrorName(r, &n);
        cuGetErrorString(r, &s);
    }
    snprintf(buf, sizeof buf, "%s: %s", n ? n : "CUDA_ERROR", s ? s : "unknown error");
    return buf;
}

int ev_cu_sticky(CUresult r)
{
    switch (r) {
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_LAUNCH_TIMEOUT:
    case CUDA_ERROR_CONTEXT_IS_DESTROYED:
    case CUDA_ERROR_ECC_UNCORRECTABLE:
    case CUDA_ERROR_UNKNOWN:
        return 1;
    default:
        return 0;
    }
}

int ev_cu_err(struct kf_err *err, CUresult r, const char *what)
{
    return kf_err_set(err, KF_ECUDA, what, "%s: %s", what, ev_cu_str(r));
}

void ev_hardware_name(const char *devname, char *out, size_t n)
{
    static const char *drop[] = {"PCIe", "SXM", "SXM4", "SXM5", "SXM6", "NVL", "HBM2", "HBM2e",
                                 "HBM3", "HBM3e", "MIG", NULL};
    char *copy = xstrdup(devname ? devname : "unknown"), *save = NULL, *tok;
    size_t len = 0;
    out[0] = 0;
    for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        size_t tl = strlen(tok);
        int skip = 0;
        if (tl > 2 && isdigit((unsigned char)tok[0]) && (strcmp(tok + tl - 2, "GB") == 0))
            break;   /* "80GB": memory size, the model name is complete */
        for (int i = 0; drop[i]; i++)
            if (strcasecmp(tok, drop[i]) == 0 || strncasecmp(tok, "HBM", 3) == 0 ||
                strncasecmp(tok, "SXM", 3) == 0 || strncmp(tok, "MIG-", 4) == 0)
                skip = 1;
        if (skip)
            break;
        for (char *c = tok; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
                *c = '_';
        if (len + tl + 2 > n)
            break;
        len += (size_t)snprintf(out + len, n - len, "%s%s", len ? "_" : "", tok);
    }
    if (!out[0])
        snprintf(out, n, "unknown");
    free(copy);
}

int ev_dev_fact(const struct ev_dev *d, const char *name, int64_t *out)
{
    if (!strcmp(name, "num_sms") || !strcmp(name, "sm_count") ||
        !strcmp(name, "multi_processor_count"))
        *out = d->num_sms;
    else if (!strcmp(name, "l2_bytes") || !strcmp(name, "l2_cache_bytes") ||
             !strcmp(name, "l2_cache_size"))
        *out = d->l2_bytes;
    else if (!strcmp(name, "max_shared_mem") || !strcmp(name, "max_smem") ||
             !strcmp(name, "max_shared_memory_per_block_optin") ||
             !strcmp(name, "max_smem_per_block"))
        *out = d->max_smem_optin;
    else if (!strcmp(name, "warp_size"))
        *out = d->warp_size;
    else if (!strcmp(name, "max_threads_per_block"))
        *out = d->max_threads_block;
    else if (!strcmp(name, "cc_major") || !strcmp(name, "sm_major"))
        *out = d->cc_major;
    else if (!strcmp(name, "cc_minor") || !strcmp(name, "sm_minor"))
        *out = d->cc_minor;
    else if (!strcmp(name, "sm_version") || !strcmp(name, "compute_capability"))
        *out = d->cc_major * 10 + d->cc_minor;
    else
        return KF_ENOENT;
    return 0;
}

static int load_builtin(struct ev_dev *d, struct kf_err *err)
{
    void *cubin = NULL;
    size_t size = 0;
    char *log = NULL, hex[65], *path = NULL;
    struct ev_sha256 h;
    FILE *f;
    CUresult r;
    int rc = 0;

    ev_sha256_init(&h);
    ev_sha256_str(&h, ev_builtin_source());
    ev_sha256_str(&h, d->arch);
    ev_sha256_str(&h, ev_nvrtc_version());
    ev_sha256_hex(&h, hex);
    if (d->cache_dir) {
        path = xasprintf("%s/cubin/builtin-%s.cubin", d->cache_dir, hex);
        if ((f = fopen(path, "rb"))) {
            long n;
            if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
                cubin = xmalloc((size_t)n);
                if (fread(cubin, 1, (size_t)n, f) == (size_t)n)
                    size = (size_t)n;
            }
            fclose(f);
        }
    }
    if (!size) {
        free(cubin);
        cubin = NULL;
        rc = ev_nvrtc_compile_src("kf_builtin.cu", ev_builtin_source(), d->arch, &cubin, &size, &log,
                                  err);
        if (rc) {
            log_error("evdev", "built-in kernels failed to compile log=%s", log ? log : "");
            goto out;
        }
        if (path) {
            char *dir = xasprintf("%s/cubin", d->cache_dir), *tmp = xasprintf("%s.tmp", path);
            mkdir(d->cache_dir, 0755);
            mkdir(dir, 0755);
            if ((f = fopen(tmp, "wb"))) {
                int ok = fwrite(cubin, 1, size, f) == size;
                if ((fclose(f) == 0) && ok)
                    rename(tmp, path);
            }
            free(dir);
            free(tmp);
        }
    }
    if ((r = cuModuleLoadData(&d->builtin, cubin)) != CUDA_SUCCESS) {
        rc = ev_cu_err(err, r, "cuModuleLoadData(builtin)");
        goto out;
    }
    if ((r = cuModuleGetFunction(&d->k_fill, d->builtin, EV_BUILTIN_FILL)) ||
        (r = cuModuleGetFunction(&d->k_kcache, d->builtin, EV_BUILTIN_KCACHE)) ||
        (r = cuModuleGetFunction(&d->k_checksum, d->builtin, EV_BUILTIN_CHECKSUM)) ||
        (r = cuModuleGetFunction(&d->k_l2sweep, d->builtin, EV_BUILTIN_L2SWEEP)) ||
        (r = cuModuleGetFunction(&d->k_l2fill, d->builtin, EV_BUILTIN_L2FILL)) ||
        (r = cuModuleGetFunction(&d->k_l2discard, d->builtin, EV_BUILTIN_L2DISCARD)))
        rc = ev_cu_err(err, r, "cuModuleGetFunction(builtin)");
out:
    free(cubin);
    free(log);
    free(path);
    return rc;
}

int ev_dev_open(struct ev_dev *d, int ordinal, const char *cache_dir, struct kf_err *err)
{
    CUresult r;
    int ndev = 0, v;
    memset(d, 0, sizeof *d);
    d->ordinal = ordinal;
    d->cache_dir = cache_dir;
    if (ev_cudrv_load(err))
        return KF_ECUDA;
    if ((r = cuInit(0)) != CUDA_SUCCESS)
        return kf_err_set(err, KF_ECUDA, "device", "no usable NVIDIA GPU: cuInit: %s", ev_cu_str(r));
    if ((r = cuDeviceGetCount(&ndev)) != CUDA_SUCCESS || ndev == 0)
        return kf_err_set(err, KF_ECUDA, "device", "no NVIDIA GPU found");
    if (ordinal < 0 || ordinal >= ndev)
        return kf_err_set(err, KF_EINVAL, "device", "device %d out of range (%d GPUs)", ordinal, ndev);
    if ((r = cuDeviceGet(&d->dev, ordinal)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuDeviceGet");
    if ((r = cuDevicePrimaryCtxRetain(&d->ctx, d->dev)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuDevicePrimaryCtxRetain");
    if ((r = cuCtxSetCurrent(d->ctx)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuCtxSetCurrent");
    cuDeviceGetName(d->name, sizeof d->name, d->dev);
    ev_hardware_name(d->name, d->hardware, sizeof d->hardware);
    cuDeviceGetAttribute(&d->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d->dev);
    cuDeviceGetAttribute(&d->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d->dev);
    cuDeviceGetAttribute(&d->num_sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d->dev);
    cuDeviceGetAttribute(&d->l2_bytes, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, d->dev);
    cuDeviceGetAttribute(&d->max_smem_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                         d->dev);
    cuDeviceGetAttribute(&d->max_smem_block, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, d->dev);
    cuDeviceGetAttribute(&d->max_threads_block, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, d->dev);
    cuDeviceGetAttribute(&d->warp_size, CU_DEVICE_ATTRIBUTE_WARP_SIZE, d->dev);
    cuDeviceGetPCIBusId(d->pci_bus_id, sizeof d->pci_bus_id, d->dev);
    if (cuDriverGetVersion(&v) == CUDA_SUCCESS)
        d->driver_version = v;
    ev_arch_name(d->cc_major, d->cc_minor, d->arch, sizeof d->arch);
    if ((r = cuStreamCreate(&d->stream, CU_STREAM_NON_BLOCKING)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuStreamCreate");
    d->l2buf_bytes = (size_t)(d->l2_bytes > 0 ? d->l2_bytes : (64 << 20)) * 2;
    if ((r = cuMemAlloc(&d->l2buf, d->l2buf_bytes)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuMemAlloc(l2 flush buffer)");
    if ((r = cuMemAlloc(&d->scratch, 64)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuMemAlloc(scratch)");
    log_info("evdev", "device open ordinal=%d name=\"%s\" arch=%s sms=%d l2=%d", ordinal, d->name,
             d->arch, d->num_sms, d->l2_bytes);
    return load_builtin(d, err);
}

void ev_dev_close(struct ev_dev *d)
{
    if (!d->ctx)
        return;
    cuCtxSetCurrent(d->ctx);
    if (d->builtin)
        cuModuleUnload(d->builtin);
    if (d->l2buf)
        cuMemFree(d->l2buf);
    if (d->scratch)
        cuMemFree(d->scratch);
    if (d->stream)
        cuStreamDestroy(d->stream);
    cuDevicePrimaryCtxRelease(d->dev);
    d->ctx = NULL;
    d->builtin = NULL;
    d->l2buf = d->scratch = 0;
    d->stream = NULL;
}

static unsigned blocks_for(struct ev_dev *d, uint64_t n)
{
    uint64_t b = (n + 255) / 256, cap = (uint64_t)(d->num_sms > 0 ? d->num_sms : 132) * 8;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

CUresult ev_dev_fill_random(struct ev_dev *d, CUdeviceptr p, int64_t numel, int dtype, uint64_t seed)
{
    unsigned long long n = (unsigned long long)numel, s = seed;
    void *args[] = {&p, &n, &dtype, &s};
    if (numel <= 0)
        return CUDA_SUCCESS;
    return cuLaunchKernel(d->k_fill, blocks_for(d, n), 1, 1, 256, 1, 1, 0, d->stream, args, NULL);
}

CUresult ev_dev_fill_kcache(struct ev_dev *d, CUdeviceptr p, int64_t npages, uint64_t seed)
{
    unsigned long long n = (unsigned long long)npages, s = seed;
    void *args[] = {&p, &n, &s};
    if (npages <= 0)
        return CUDA_SUCCESS;
    return cuLaunchKernel(d->k_kcache, blocks_for(d, n * 64 * 128), 1, 1, 256, 1, 1, 0, d->stream,
                          args, NULL);
}

CUresult ev_dev_checksum(struct ev_dev *d, CUdeviceptr p, size_t nbytes, uint64_t *out)
{
    unsigned long long n = nbytes;
    CUdeviceptr o = d->scratch;
    void *args[] = {&p, &n, &o};
    CUresult r;
    *out = 0;
    if ((r = cuMemsetD8Async(d->scratch, 0, 8, d->stream)) != CUDA_SUCCESS)
        return r;
    if (nbytes && (r = cuLaunchKernel(d->k_checksum, blocks_for(d, (n + 7) / 8), 1, 1, 256, 1, 1, 0,
                                      d->stream, args, NULL)) != CUDA_SUCCESS)
        return r;
    if ((r = cuMemcpyDtoHAsync(out, d->scratch, 8, d->stream)) != CUDA_SUCCESS)
        return r;
    return cuStreamSynchronize(d->stream);
}
