#!/usr/bin/python3
"""Checks of evtx2nxlog.py's rendering (run: python3 scripts/corpus/evtx2nxlog_test.py).

The events are written for this test; no third-party recording is used.
Not part of scripts/test.sh: the corpus tools are run by hand.
"""

import importlib.util
import json
import os
import sys
import unittest

sys.dont_write_bytecode = True
_spec = importlib.util.spec_from_file_location(
    "evtx2nxlog", os.path.join(os.path.dirname(os.path.abspath(__file__)), "evtx2nxlog.py"))
e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e)

NS = "http://schemas.microsoft.com/win/2004/08/events/event"

# A failed logon as python-evtx renders it (space-separated SystemTime).
SECURITY = """<Event xmlns="%s"><System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-a5ba-3e3b0328c30d}"></Provider>
<EventID Qualifiers="">4625</EventID><Version>0</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode>
<Keywords>0x8010000000000000</Keywords><TimeCreated SystemTime="2026-11-28 10:00:00.123456"></TimeCreated>
<EventRecordID>77</EventRecordID><Correlation ActivityID="{aaaaaaaa-1111-2222-3333-444444444444}" RelatedActivityID=""></Correlation>
<Execution ProcessID="640" ThreadID="700"></Execution><Channel>Security</Channel><Computer>DC01.corp.example</Computer><Security UserID=""></Security></System>
<EventData><Data Name="TargetUserName">zhangwei</Data><Data Name="IpAddress">203.0.113.45</Data><Data Name="LogonType">3</Data></EventData></Event>""" % NS

# A classic-provider event: python-evtx gives its string inserts as one
# <Data> holding <string> elements.
CLASSIC = """<Event xmlns="%s"><System><Provider Name="MSExchange CmdletLogs"></Provider>
<EventID Qualifiers="16384">1</EventID><Level>4</Level><Task>1</Task><Keywords>0x0080000000000000</Keywords>
<TimeCreated SystemTime="2026-11-28 10:05:00"></TimeCreated><EventRecordID>9</EventRecordID>
<Channel>MSExchange Management</Channel><Computer>EXCH01.corp.example</Computer><Security UserID=""></Security></System>
<EventData><Data>&lt;string&gt;Set-Mailbox&lt;/string&gt;
&lt;string&gt;-Identity "ceo" -ForwardingSmtpAddress "smtp:x@example.net"&lt;/string&gt;
&lt;string&gt;corp.example/Users/exadmin&lt;/string&gt;
</Data><Binary></Binary></EventData></Event>""" % NS

# A UserData event (the Security log cleared).
USERDATA = """<Event xmlns="%s"><System><Provider Name="Microsoft-Windows-Eventlog" Guid="{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}"></Provider>
<EventID>1102</EventID><Version>0</Version><Level>4</Level><Task>104</Task><Opcode>0</Opcode><Keywords>0x4020000000000000</Keywords>
<TimeCreated SystemTime="2026-11-28 10:10:00.5"></TimeCreated><EventRecordID>10</EventRecordID><Execution ProcessID="900" ThreadID="4"></Execution>
<Channel>Security</Channel><Computer>WS7.corp.example</Computer></System>
<UserData><LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog"><SubjectUserName>lisi</SubjectUserName><SubjectDomainName>CORP</SubjectDomainName></LogFileCleared></UserData></Event>""" % NS


class Render(unittest.TestCase):
    def test_security(self):
        r = e.from_evtx_xml(SECURITY, "list", False)
        want = {
            "EventTime": "2026-11-28T10:00:00.1234560Z", "Hostname": "DC01.corp.example",
            "Keywords": -9218868437227405312, "EventType": "AUDIT_FAILURE", "SeverityValue": 4,
            "Severity": "ERROR", "EventID": 4625, "SourceName": "Microsoft-Windows-Security-Auditing",
            "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}", "Version": 0, "Task": 12544,
            "OpcodeValue": 0, "RecordNumber": 77, "ActivityID": "{AAAAAAAA-1111-2222-3333-444444444444}",
            "ProcessID": 640, "ThreadID": 700, "Channel": "Security", "Category": "Logon", "Opcode": "Info",
            "TargetUserName": "zhangwei", "IpAddress": "203.0.113.45", "LogonType": "3",
        }
        self.assertEqual(r, want)
        self.assertEqual(list(r), list(want))  # nxlog's key order
        self.assertNotIn("Message", r)

    def test_classic_unnamed_data(self):
        r = e.from_evtx_xml(CLASSIC, "list", False)
        self.assertEqual(r["Data"], ["Set-Mailbox", '-Identity "ceo" -ForwardingSmtpAddress "smtp:x@example.net"',
                                     "corp.example/Users/exadmin"])
        self.assertEqual((r["EventType"], r["SourceName"]), ("INFO", "MSExchange CmdletLogs"))
        self.assertNotIn("Data", e.from_evtx_xml(CLASSIC, "drop", False))
        x = e.from_evtx_xml(CLASSIC, "drop", True)["EventXML"]
        self.assertIn("<EventData><Data>Set-Mailbox</Data><Data>-Identity", x)
        self.assertNotIn("&lt;string&gt;", x)

    def test_userdata(self):
        r = e.from_evtx_xml(USERDATA, "list", False)
        self.assertEqual((r["SubjectUserName"], r["SubjectDomainName"]), ("lisi", "CORP"))
        self.assertEqual((r["EventType"], r["Category"], r["EventTime"]),
                         ("AUDIT_SUCCESS", "Log clear", "2026-11-28T10:10:00.5000000Z"))

    def test_syslog_line(self):
        r = e.from_evtx_xml(SECURITY, "list", False)
        line = e.syslog_line(r)
        head, body = line.split(": ", 1)
        self.assertEqual(head, "<11>Nov 28 10:00:00 DC01.corp.example Microsoft-Windows-Security-Auditing[640]")
        self.assertEqual(json.loads(body), r)
        r = e.from_evtx_xml(CLASSIC, "list", False)
        self.assertTrue(e.syslog_line(r).startswith("<14>Nov 28 10:05:00 EXCH01.corp.example MSExchange CmdletLogs: {"))

    def test_mordor(self):
        nx = {"EventTime": "2020-09-20 12:16:06", "Hostname": "WS1", "EventID": 4624, "@timestamp": "x",
              "@version": "1", "host": "wec", "port": 1, "tags": [], "Channel": "Security"}
        self.assertEqual(e.from_mordor(nx), {"EventTime": "2020-09-20 12:16:06", "Hostname": "WS1",
                                             "EventID": 4624, "Channel": "Security"})
        la = {"TimeCreated": "2020-10-19 03:30:41.104", "Hostname": "WS5", "EventID": 1102}
        self.assertEqual(e.from_mordor(la)["EventTime"], "2020-10-19T03:30:41.1040000Z")
        self.assertIsNone(e.from_mordor({"ts": 1, "uid": "zeek"}))


if __name__ == "__main__":
    unittest.main()
