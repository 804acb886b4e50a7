/* test_stream.c - streams and events: ordering, record/wait/synchronize, elapsed time, and
 * their validation rules. */
#include "xtest.h"

#include <stdlib.h>

int main(void)
{
    xhal_context *ctx = NULL;
    xhal_device *cpu = NULL, *dev = NULL;
    xhal_stream *s1 = NULL, *s2 = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu", &cpu));
    CHECK_OK(xhal_stream_create(cpu, &s1));
    CHECK_OK(xhal_stream_create(cpu, &s2));
    CHECK_OK(xhal_stream_device(s1, &dev));
    CHECK(dev == cpu);
    CHECK_STATUS(xhal_stream_create(NULL, &s1), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    CHECK_STATUS(xhal_stream_create(cpu, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");

    /* work on s1, an event, s2 waits for it and then reads what s1 wrote */
    int64_t n = 1 << 20;
    xhal_tensor *a = NULL, *b = NULL;
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 1, &n, &a));
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 1, &n, &b));
    xhal_event *e0 = NULL, *e1 = NULL;
    CHECK_OK(xhal_event_create(cpu, &e0));
    CHECK_OK(xhal_event_create(cpu, &e1));
    CHECK_STATUS(xhal_stream_wait_event(s2, e0), XHAL_ERROR_INVALID_ARGUMENT, "never recorded");
    CHECK_STATUS(xhal_event_synchronize(e0), XHAL_ERROR_INVALID_ARGUMENT, "never recorded");
    CHECK_OK(xhal_event_record(e0, s1));
    CHECK_OK(xhal_fill(s1, a, 2.0));
    CHECK_OK(xhal_unary(s1, XHAL_OP_SQRT, a, a));
    CHECK_OK(xhal_event_record(e1, s1));
    CHECK_OK(xhal_stream_wait_event(s2, e1));
    CHECK_OK(xhal_scale(s2, a, 2.0, 1.0, b));
    float v[2];
    xhal_tensor *head = NULL;
    CHECK_OK(xhal_tensor_slice(b, 0, n - 2, n, 1, &head));
    CHECK_OK(xhal_tensor_read(s2, head, v, sizeof v));
    CHECK_NEAR(v[1], 2.0 * 1.41421356 + 1.0, 1e-5);
    CHECK_OK(xhal_event_synchronize(e1));
    double ms = -1;
    CHECK_OK(xhal_event_elapsed_ms(e0, e1, &ms));
    CHECK(ms >= 0.0 && ms < 60000.0);
    CHECK_STATUS(xhal_event_elapsed_ms(e0, e1, NULL), XHAL_ERROR_INVALID_ARGUMENT, "ms is NULL");
    CHECK_STATUS(xhal_event_record(NULL, s1), XHAL_ERROR_INVALID_HANDLE, "event is NULL");
    CHECK_STATUS(xhal_event_record(e0, (xhal_stream *)e1), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    CHECK_OK(xhal_stream_synchronize(s1));
    CHECK_OK(xhal_stream_synchronize(s2));

    /* destroyed handles: detected, double destroy harmless */
    CHECK_OK(xhal_event_destroy(e0));
    CHECK_STATUS(xhal_event_destroy(e0), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    CHECK_STATUS(xhal_event_elapsed_ms(e0, e1, &ms), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    CHECK_OK(xhal_stream_destroy(s2));
    CHECK_STATUS(xhal_stream_synchronize(s2), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    CHECK_STATUS(xhal_stream_destroy(s2), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    CHECK_STATUS(xhal_fill(s2, a, 1.0), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    CHECK_OK(xhal_stream_destroy(NULL));
    CHECK_OK(xhal_event_destroy(NULL));
    /* the context cleans up what is left (a, b, head, e1, s1) */
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_stream");
}
