from rxtune.backends import procfs


def test_softnet_stat_reads_hex_columns_and_cpu_number(data):
    rows = procfs.parse_softnet_stat((data / "softnet_stat.txt").read_text())
    assert rows[0] == {"processed": 0x1215B1, "dropped": 2, "time_squeeze": 10, "cpu": 0}
    # the second row names its CPU in column 12: an offline CPU 1 and 2 left no rows
    assert rows[1]["cpu"] == 3 and rows[1]["time_squeeze"] == 1


def test_interrupts_per_cpu_and_short_rows(data):
    lines = {
        line.irq: line for line in procfs.parse_interrupts((data / "interrupts.txt").read_text())
    }
    assert lines["28"].per_cpu == (3, 0, 7051, 9)
    assert lines["28"].description.endswith("eth0-TxRx-1")
    assert lines["LOC"].per_cpu[3] == 260000
    assert lines["ERR"].per_cpu == (0,)


def test_softirqs_and_netstat(data):
    assert procfs.parse_softirqs((data / "softirqs.txt").read_text())["NET_RX"] == (460, 538)
    tables = procfs.parse_netstat((data / "netstat.txt").read_text())
    assert tables["TcpExt"]["BusyPollRxPackets"] == 1234


def test_stat_cpus_and_task_status():
    stat = procfs.parse_stat_cpus(
        "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\ncpu1 10 20 30 40 50 60 70 80 0 0\n"
    )
    assert sorted(stat) == [0, 1] and stat[1]["softirq"] == 70
    status = procfs.parse_task_status(
        "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"
    )
    assert status == {"voluntary_ctxt_switches": 12, "nonvoluntary_ctxt_switches": 3}
