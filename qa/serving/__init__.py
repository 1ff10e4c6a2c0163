"""The front-ends: the `qa` command and the Gradio web chat, with who may edit (access) and the abuse
limits. They parse input, call one method and format the result."""
