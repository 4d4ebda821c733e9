"""The generator's synthesis network as a module of its own, for the photo import's weight fits.

Pivotal tuning (editor.photo.tune) and the detail maps (editor.photo.detail) both run the network with
substituted weights through torch.func.functional_call, which needs an nn.Module whose forward is the
synthesis call; this is that module, shared so neither fit imports the other."""

from torch import nn


class Synthesis(nn.Module):
    """net.synthesis as a forward, so torch.func.functional_call can run it with substituted weights."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, ws, size):
        return self.net.synthesis(ws, noise_mode="const", size=size)
