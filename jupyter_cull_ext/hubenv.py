"""The environment variables through which the hub companion tells a server its max age.

``hub.configure`` sets them on every spawner; ``CullExt`` reads them as the defaults of
``max_age`` and ``server_started``. One definition, so the two cannot drift apart.
"""

#: Seconds after ``JUPYTER_CULL_SERVER_STARTED`` at which the server stops.
ENV_MAX_AGE = "JUPYTER_CULL_MAX_AGE"
#: When the hub started the server (ISO 8601), the start of its max age.
ENV_STARTED = "JUPYTER_CULL_SERVER_STARTED"
