"""The generator's synthesis network as a module of its own, for the photo import's weight fits.

Pivotal tuning (editor.photo.tune) and the detail maps (editor.photo.detail) both run the network at the
const noise the fit is made against, with their deltas and maps as per-call inputs (editor.model.call_inputs);
this is that call, shared so neither fit imports the other."""

from torch import nn


class Synthesis(nn.Module):
    """net.synthesis as a forward, at the const noise."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, ws, size):
        return self.net.synthesis(ws, noise_mode="const", size=size)
