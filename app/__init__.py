"""The pytribes app node (issue 5): a Starlette application on the replicated sessions.

* `app.web`: the routes (login, records, monitor page, JSON API) and `create_app`;
* `app.sessions`: `ReplicatedSessionMiddleware` and `SessionHandle` (``request.session``);
* `app.auth`: the login attributes in the session (names shared with Tomcat webapps);
* `app.db`: users and records through SQLAlchemy (SQLite file or MySQL/MariaDB);
* `app.events`: the ring buffer of cluster events for the monitor page;
* `app.serve`: Hypercorn on trio next to the cluster (`pytribes node --http`);
* `app.demo`: `pytribes demo`, a local two-node cluster behind nginx.
"""
