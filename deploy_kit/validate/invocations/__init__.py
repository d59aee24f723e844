"""Where vLLM is started: containers and their vLLM calls in pods, compose and Dockerfiles."""
