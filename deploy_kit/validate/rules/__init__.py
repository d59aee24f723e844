"""The DK domain rules: `run.check` drives them over every vLLM call; `facts` is what they read."""
