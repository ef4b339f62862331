"""A local web page for inpainting (the ui extra: pip install -e '.[ui]'): paint the hole on the
photo in the browser, watch the scales train, download the result. python -m singan_jax.ui"""
