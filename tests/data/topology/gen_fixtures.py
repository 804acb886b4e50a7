#!/usr/bin/env python3
"""Writes the hwloc v2 XML fixtures of tests/topology (run from this folder).

The fixtures are committed; this script only documents how they were made and lets
them be regenerated after a change. Machines:
  two-socket-8gpu.xml  2 packages x 1 NUMA node x 4 cores x 2 PUs. Package 0 has one
                       host bridge: a root port with a two-level PCIe switch tree (GPUs
                       0-3 under switches S0 and S1, both under switch T0), and a second
                       root port with one accelerator of an unlisted vendor. Package 1
                       has two host bridges, each with a switch and two GPUs (4-7).
  one-socket-1acc.xml  1 package x 1 NUMA node x 4 cores x 2 PUs, one Huawei
                       accelerator behind a root port, and a device of class 0x1180
                       (not an accelerator class) behind another.
  corrupt.xml          a truncated export (must be refused with a message).
  two-socket-8gpu-nvlink.xml   two-socket-8gpu with the OS devices ("nvml0".."nvml7", one
                       under each GPU) and the "NVLinkBandwidth" matrix hwloc's NVML component
                       adds (MB/s, 25000 per NVLink 2-4, 1000000 on the diagonal, 0 where no
                       NVLink joins two GPUs). Its links make a ring (GPUs 0, 4, 2, 5, 1, 3)
                       other than the PCI one.
  two-socket-8gpu-xgmi.xml     the same machine with AMD GPUs, "rsmi0".."rsmi7" OS devices and
                       the "XGMIBandwidth" and "XGMIHops" matrices of hwloc's RSMI component.
  two-socket-8gpu-badnvlink.xml  an NVLinkBandwidth matrix with fewer values than its objects
                       need: hwloc refuses the whole file; xhal loads it without its matrices.
  two-socket-8gpu-nvlink-pkg.xml  an NVLinkBandwidth matrix over the two packages (no GPU
                       among its objects): hwloc takes it, xhal ignores it with a reason.
hwloc 2.9's `lstopo -i FILE --of xml` reads the matrices of the first two back unchanged.
"""

import re

gp = [0]


def nxt():
    gp[0] += 1
    return gp[0]


def mask(bits):
    v = 0
    for b in bits:
        v |= 1 << b
    return "0x%08x" % v


def pu_obj(ind, pus):
    return "".join('%s<object type="PU" os_index="%d" cpuset="%s" complete_cpuset="%s" gp_index="%d"/>\n'
                   % (ind, p, mask([p]), mask([p]), nxt()) for p in pus)


def package(ind, pkg, cores, smt_offset, node, memory, io):
    pus = [c for c in cores] + [c + smt_offset for c in cores]
    cs = mask(pus)
    ns = mask([node])
    out = ('%s<object type="Package" os_index="%d" cpuset="%s" complete_cpuset="%s" nodeset="%s" '
           'complete_nodeset="%s" gp_index="%d">\n' % (ind, pkg, cs, cs, ns, ns, nxt()))
    out += ('%s  <object type="NUMANode" os_index="%d" cpuset="%s" complete_cpuset="%s" nodeset="%s" '
            'complete_nodeset="%s" gp_index="%d" local_memory="%d"/>\n'
            % (ind, node, cs, cs, ns, ns, nxt(), memory))
    for c in cores:
        ccs = mask([c, c + smt_offset])
        out += ('%s  <object type="Core" os_index="%d" cpuset="%s" complete_cpuset="%s" nodeset="%s" '
                'complete_nodeset="%s" gp_index="%d">\n' % (ind, c, ccs, ccs, ns, ns, nxt()))
        out += pu_obj(ind + "    ", [c, c + smt_offset])
        out += "%s  </object>\n" % ind
    out += io
    out += "%s</object>\n" % ind
    return out


def hostbridge(ind, lo, hi, children):
    return ('%s<object type="Bridge" gp_index="%d" bridge_type="0-1" depth="0" bridge_pci="0000:[%02x-%02x]">\n'
            % (ind, nxt(), lo, hi)) + children(ind + "  ") + "%s</object>\n" % ind


def bridge(ind, busid, depth, lo, hi, children, devid="1234"):
    return ('%s<object type="Bridge" gp_index="%d" bridge_type="1-1" depth="%d" bridge_pci="0000:[%02x-%02x]" '
            'pci_busid="%s" pci_type="0604 [10b5:%s] [0000:0000] 01" pci_link_speed="15.753846">\n'
            % (ind, nxt(), depth, lo, hi, busid, devid)) + children(ind + "  ") + "%s</object>\n" % ind


def pcidev(ind, busid, cls, vendor, device, info=None):
    s = ('%s<object type="PCIDev" gp_index="%d" pci_busid="%s" pci_type="%04x [%04x:%04x] [%04x:0001] a1" '
         'pci_link_speed="31.507692"' % (ind, nxt(), busid, cls, vendor, device, vendor))
    if not info:
        return s + "/>\n"
    s += ">\n"
    for k, v in info:
        s += '%s  <info name="%s" value="%s"/>\n' % (ind, k, v)
    return s + "%s</object>\n" % ind


def machine(packages_xml, all_pus, nodes):
    cs = mask(all_pus)
    ns = mask(nodes)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE topology SYSTEM "hwloc2.dtd">\n'
            '<topology version="2.0">\n'
            '  <object type="Machine" os_index="0" cpuset="%s" complete_cpuset="%s" allowed_cpuset="%s" '
            'nodeset="%s" complete_nodeset="%s" allowed_nodeset="%s" gp_index="%d">\n'
            '    <info name="Backend" value="Linux"/>\n    <info name="Architecture" value="x86_64"/>\n'
            '    <info name="HostName" value="xhal-fixture"/>\n'
            % (cs, cs, cs, ns, ns, ns, nxt())) + packages_xml + "  </object>\n</topology>\n"


def gpu(busid, n):
    return lambda i: pcidev(i, busid, 0x0302, 0x10de, 0x2330, [("PCIVendor", "NVIDIA Corporation"),
                                                           ("PCIDevice", "Fixture GPU %d" % n)])


def switch(ind, up_bus, lo, hi, ports, depth):
    """ports: list of (downstream port busid, secondary bus, child fn)"""
    def down(i):
        return "".join(bridge(i, p, depth + 1, sb, sb_hi, fn) for (p, sb, sb_hi, fn) in ports)
    return bridge(ind, up_bus, depth, lo, hi, down)


def two_socket():
    gp[0] = 0
    GiB = 1 << 30
    # package 0: host bridge [00-1f]
    def s0(i):
        return switch(i, "0000:03:00.0", 0x04, 0x06, [
            ("0000:04:00.0", 0x05, 0x05, gpu("0000:05:00.0", 0)),
            ("0000:04:01.0", 0x06, 0x06, gpu("0000:06:00.0", 1))], 3)

    def s1(i):
        return switch(i, "0000:07:00.0", 0x08, 0x0a, [
            ("0000:08:00.0", 0x09, 0x09, gpu("0000:09:00.0", 2)),
            ("0000:08:01.0", 0x0a, 0x0a, gpu("0000:0a:00.0", 3))], 3)

    def t0(i):
        return switch(i, "0000:01:00.0", 0x02, 0x0a, [
            ("0000:02:00.0", 0x03, 0x06, s0),
            ("0000:02:01.0", 0x07, 0x0a, s1)], 1)

    def hb0(i):
        return (bridge(i, "0000:00:01.0", 0, 0x01, 0x0a, t0) +
                bridge(i, "0000:00:02.0", 0, 0x11, 0x11,
                       lambda j: pcidev(j, "0000:11:00.0", 0x1200, 0xcabc, 0x0370)) +
                pcidev(i, "0000:00:1f.0", 0x0200, 0x8086, 0x1521))

    # package 1: two host bridges [40-4f] and [50-5f]
    def hb(base, g0):
        def sw(i):
            return switch(i, "0000:%02x:00.0" % (base + 1), base + 2, base + 4, [
                ("0000:%02x:00.0" % (base + 2), base + 3, base + 3, gpu("0000:%02x:00.0" % (base + 3), g0)),
                ("0000:%02x:01.0" % (base + 2), base + 4, base + 4, gpu("0000:%02x:00.0" % (base + 4), g0 + 1))], 1)
        return lambda i: bridge(i, "0000:%02x:01.0" % base, 0, base + 1, base + 4, sw)

    p0 = package("    ", 0, [0, 1, 2, 3], 8, 0, 64 * GiB, hostbridge("      ", 0x00, 0x1f, hb0))
    p1 = package("    ", 1, [4, 5, 6, 7], 8, 1, 64 * GiB,
                 hostbridge("      ", 0x40, 0x4f, hb(0x40, 4)) + hostbridge("      ", 0x50, 0x5f, hb(0x50, 6)))
    return machine(p0 + p1, list(range(16)), [0, 1])


def one_socket():
    gp[0] = 0
    GiB = 1 << 30

    def hb(i):
        # 02:00.0 has a class hwloc does not count as important (signal processing):
        # xhal must keep it all the same, a backend may drive it.
        return (bridge(i, "0000:00:01.0", 0, 0x01, 0x01,
                       lambda j: pcidev(j, "0000:01:00.0", 0x1200, 0x19e5, 0xd801,
                                        [("PCIVendor", "Huawei Technologies Co., Ltd.")])) +
                bridge(i, "0000:00:02.0", 0, 0x02, 0x02,
                       lambda j: pcidev(j, "0000:02:00.0", 0x1180, 0x1e3e, 0x0001)))
    p0 = package("    ", 0, [0, 1, 2, 3], 4, 0, 16 * GiB, hostbridge("      ", 0x00, 0x0f, hb))
    return machine(p0, list(range(8)), [0])


def with_osdevs(text, prefix, subtype, backend, first_gp):
    """Put one OS device (prefix0, prefix1...) under each GPU of two_socket(), in bus order."""
    out, n = [], 0
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        out.append(lines[i])
        if 'type="PCIDev"' in lines[i] and "[10de:2330]" in lines[i]:
            i += 1
            while "</object>" not in lines[i]:
                out.append(lines[i])
                i += 1
            ind = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            out.append('%s  <object type="OSDev" gp_index="%d" name="%s%d" subtype="%s" osdev_type="1">'
                       % (ind, first_gp + n, prefix, n, subtype))
            out.append('%s    <info name="Backend" value="%s"/>' % (ind, backend))
            out.append("%s  </object>" % ind)
            out.append(lines[i])
            n += 1
        i += 1
    return "\n".join(out)


def distances(name, kind, typ, gps, values, count=None):
    idx = " ".join(str(g) for g in gps)
    vals = " ".join(str(v) for v in (values if count is None else values[:count]))
    return ('  <distances2 type="%s" nbobjs="%d" kind="%d" name="%s" indexing="gp">\n'
            '    <indexes length="%d">%s</indexes>\n    <u64values length="%d">%s</u64values>\n'
            '  </distances2>\n' % (typ, len(gps), kind, name, len(idx), idx, len(vals), vals))


def matrix(n, links, diag):
    m = [[0] * n for _ in range(n)]
    for a, b, v in links:
        m[a][b] = m[b][a] = v
    for k in range(n):
        m[k][k] = diag
    return [v for row in m for v in row]


FROM_OS, LATENCY, BANDWIDTH = 1, 4, 8
# GPU pairs and NVLink MB/s: from GPU 0 the faster link (to 4) wins over the slower one (to 1)
# and over PIX; from 4, GPU 2 (NVLink) wins over GPU 5 (PCI NODE).
NVLINKS = [(0, 4, 50000), (0, 1, 25000), (4, 2, 50000), (2, 5, 25000), (5, 1, 25000), (6, 7, 50000), (3, 6, 25000)]
# xGMI: a chain 0-5-1-4-3-2, one hop per link, two hops between GPUs two links apart.
XGMI = [(0, 5, 64000), (5, 1, 64000), (1, 4, 64000), (4, 3, 64000), (3, 2, 32000)]


def nvlink_fixture(count=None):
    text = with_osdevs(two_socket(), "nvml", "NVML", "NVML", 100)
    d = distances("NVLinkBandwidth", FROM_OS | BANDWIDTH, "OSDev", range(100, 108),
                  matrix(8, NVLINKS, 1000000), count)
    return text.replace("</topology>", d + "</topology>")


def xgmi_fixture():
    text = with_osdevs(two_socket(), "rsmi", "RSMI", "RSMI", 100)
    text = text.replace("[10de:2330] [10de:0001]", "[1002:74a1] [1002:0001]").replace(
        "NVIDIA Corporation", "Advanced Micro Devices, Inc. [AMD/ATI]")
    chain = [0, 5, 1, 4, 3, 2]
    hops = [(a, b, abs(chain.index(a) - chain.index(b))) for a in range(8) for b in range(a + 1, 8)
            if a in chain and b in chain]
    d = distances("XGMIBandwidth", FROM_OS | BANDWIDTH, "OSDev", range(100, 108), matrix(8, XGMI, 1000000))
    d += distances("XGMIHops", FROM_OS | LATENCY, "OSDev", range(100, 108), matrix(8, hops, 0))
    return text.replace("</topology>", d + "</topology>")


if __name__ == "__main__":
    with open("two-socket-8gpu-nvlink.xml", "w") as f:
        f.write(nvlink_fixture())
    with open("two-socket-8gpu-badnvlink.xml", "w") as f:
        f.write(nvlink_fixture(count=60))
    with open("two-socket-8gpu-xgmi.xml", "w") as f:
        f.write(xgmi_fixture())
    with open("two-socket-8gpu-nvlink-pkg.xml", "w") as f:
        f.write(two_socket().replace("</topology>", distances("NVLinkBandwidth", FROM_OS | BANDWIDTH, "Package",
                                                              [19, 47], [1000000, 0, 0, 1000000]) + "</topology>"))
    with open("two-socket-8gpu.xml", "w") as f:
        f.write(two_socket())
    with open("one-socket-1acc.xml", "w") as f:
        f.write(one_socket())
    text = two_socket()
    with open("corrupt.xml", "w") as f:
        f.write(text[: len(text) // 2])
