from ..workers.fixtures import jobs_config, redis  # noqa: F401
