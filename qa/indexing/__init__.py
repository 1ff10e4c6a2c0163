"""Bring the index in line with the corpus folder: plan what changed and decide each article (pure), embed
what is new, commit it to the store in batches; a watcher does it in the background while serving."""
