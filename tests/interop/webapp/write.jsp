<%@ page contentType="text/plain; charset=UTF-8" session="true" %><%--
  benchmarks/bench_http.py: one session write per request, the Tomcat side of the HTTP benchmark
  (the pytribes side: PUT /jw/api/session/attributes/v).  A fresh 100-character String each
  time, so DeltaManager replicates one EVT_SESSION_DELTA per request (ReplicationValve).
--%><% session.setAttribute("v", String.format("%0100d", System.nanoTime())); %>ok
