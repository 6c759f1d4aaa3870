"""What the PyTorch references of golfrt's optimizers share: optim_steps.py (the baseline's Muon and Adams,
for tests/optim_golden_test.cc) and record_optim.py (the 1.0611 record's Muon and AdamWs, for
tests/optim_record_test.cc); train_checkpoint.py sets its steps' hyperparameters with it too.

  NesterovMuon   Muon's momentum on one process (buf <- mu*buf + g, U = g + mu*buf); each reference's
                 subclass says how U becomes the update (its Newton-Schulz, scaling, weight decay).
  muon_momentum  the momentum warm-up, linear from `start` to `end` over `warmup_steps` steps.
  set_step       a step's hyperparameters: Muon's momentum, and every group's lr = base_lr * multiplier.
  run_steps      the steps on batches from `next_batch`, written as the tensor dump the tests read.
"""
import torch

from tensor_dump import write_tensor_dump


class NesterovMuon(torch.optim.Optimizer):
    """Muon without sharding across ranks (the updates keep the parameters' dtype). update(p, u, group)
    turns the Nesterov-momentum gradient u into the step on p."""

    def __init__(self, params, **defaults):
        super().__init__(params, defaults)

    def update(self, p, u, group):
        raise NotImplementedError

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                g = p.grad
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(g)
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(g)
                self.update(p, g.add(buf, alpha=mu), group)


def muon_momentum(step, warmup_steps, start, end):
    """The momentum of step `step` (that many updates taken before it)."""
    frac = min(step / warmup_steps, 1.0) if warmup_steps > 0 else 1.0
    return (1 - frac) * start + frac * end


def set_step(optimizers, muon, momentum, mult):
    for group in muon.param_groups:
        group["momentum"] = momentum
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * mult


def run_steps(args, model, params, optimizers, muon, next_batch, lr_mult, momentum_at):
    """args.steps steps of `model` (which returns (logits, loss)); step k trains on next_batch() with LR
    multiplier lr_mult(k) and Muon momentum momentum_at(k). Writes to args.out, for `params` ((name,
    parameter) in the dump's order): init.<name>, tokens.<k>/targets.<k>, with args.dump_grads
    grad.<k>.<name>, then loss, lr_mult, muon_momentum and final.<name>. Returns the losses."""
    entries = [(f"init.{n}", p.detach().clone()) for n, p in params]
    losses, mults, momenta = [], [], []
    for step in range(args.steps):
        tokens, targets = next_batch()
        entries += [(f"tokens.{step}", tokens.to(torch.int32)), (f"targets.{step}", targets.to(torch.int32))]
        mult, momentum = lr_mult(step), momentum_at(step)
        set_step(optimizers, muon, momentum, mult)
        model.zero_grad(set_to_none=True)
        _, loss = model(tokens, targets)
        loss.backward()
        if args.dump_grads:
            entries += [(f"grad.{step}.{n}", p.grad.detach().clone()) for n, p in params]
        for opt in optimizers:
            opt.step()
        losses.append(loss.item())
        mults.append(mult)
        momenta.append(momentum)
    entries += [("loss", torch.tensor(losses, dtype=torch.float64)),
                ("lr_mult", torch.tensor(mults, dtype=torch.float64)),
                ("muon_momentum", torch.tensor(momenta, dtype=torch.float64))]
    entries += [(f"final.{n}", p.detach()) for n, p in params]
    write_tensor_dump(args.out, entries)
    return losses
