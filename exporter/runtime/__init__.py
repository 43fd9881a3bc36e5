"""What the exporter runs from: the plan made from a config, the immutable runtime snapshot swapped
on reload, and the owner of the tracked streams."""
