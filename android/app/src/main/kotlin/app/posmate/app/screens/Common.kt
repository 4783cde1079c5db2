package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.posmate.ffi.FlowProgress
import app.posmate.viewmodel.Operation
import app.posmate.viewmodel.Problem

/** A screen's title row, with Back when there is somewhere to go back to. */
@Composable
fun Header(title: String, onBack: (() -> Unit)? = null, actions: @Composable () -> Unit = {}) {
    Row(
        Modifier.fillMaxWidth().padding(8.dp),
        verticalAlignment = Alignment.CenterVertically,
        horizontalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        if (onBack != null) TextButton(onClick = onBack) { Text("Back") }
        Text(title, style = MaterialTheme.typography.titleLarge, modifier = Modifier.weight(1f))
        actions()
    }
}

/** The core's failure: what happened, and what the merchant should do (its words). */
@Composable
fun ProblemView(problem: Problem, modifier: Modifier = Modifier) {
    Card(
        modifier.fillMaxWidth().padding(vertical = 4.dp),
        colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.errorContainer),
    ) {
        Column(Modifier.padding(12.dp)) {
            Text(problem.userAction, style = MaterialTheme.typography.bodyLarge)
            Text(
                problem.detail + if (problem.needsInternet) " · needs the internet" else "",
                style = MaterialTheme.typography.bodySmall,
            )
            Text(problem.code, style = MaterialTheme.typography.labelSmall)
        }
    }
}

/** A flow's progress as the core reports it (its own sentence and fraction). */
@Composable
fun ProgressView(progress: FlowProgress?, onCancel: (() -> Unit)? = null) {
    Column(Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
        if (progress == null) {
            LinearProgressIndicator(Modifier.fillMaxWidth())
            Text("Starting…")
        } else {
            LinearProgressIndicator(progress = { progress.fraction }, modifier = Modifier.fillMaxWidth())
            Text(progress.detail)
        }
        if (onCancel != null) TextButton(onClick = onCancel) { Text("Cancel") }
    }
}

/** An operation's state, with Retry when the core says a retry can help. */
@Composable
fun <T> OperationView(
    operation: Operation<T>,
    onCancel: () -> Unit,
    onRetry: () -> Unit,
    done: @Composable (T) -> Unit,
) {
    when (operation) {
        Operation.Idle -> {}
        is Operation.Running -> ProgressView(operation.progress, onCancel)
        is Operation.Done -> done(operation.result)
        is Operation.Interrupted -> {
            ProblemView(operation.problem)
            TextButton(onClick = onRetry) { Text(if (operation.resumable) "Resume" else "Retry") }
        }
        is Operation.Failed -> ProblemView(operation.problem)
        is Operation.Cancelled -> Text("Cancelled: ${operation.problem.userAction}")
    }
}

/** A count as people read it: "1 record", "2 records" (as the CLI's `plural::count`). */
fun counted(n: ULong, one: String, many: String): String = "$n ${if (n == 1uL) one else many}"

/** An amount in minor units, shown with two decimals (CNY, as the simulated terminals use). */
fun money(minor: ULong): String = "%d.%02d".format((minor / 100u).toLong(), (minor % 100u).toLong())
